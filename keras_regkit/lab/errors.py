"""The lab's one error type: bad user input, reported as one clear line."""


class LabError(Exception):
    """Bad input to the lab (data set, recipe, option); exit status 2."""
