"""The lab's one error type: bad user input, reported as one clear line."""


class LabError(Exception):
    """Bad input to the lab (data set, recipe, option); exit status 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is (finished work is kept); exit status
    143 (128 + 15) instead of Ctrl-C's 130."""

    status = 143
