"""Finding every strength of a model: its layers', nested models', and
their regularizers'."""

from keras_regkit._compat.keras_layers import flatten_layers
from keras_regkit.strengths._declarations import strengths_of


def _regularizers_of(layer):
    found = {}
    for attr, value in vars(layer).items():
        if attr.endswith("_regularizer") and value is not None:
            found[attr.lstrip("_")] = value
    for weight in layer.weights:
        regularizer = getattr(weight, "regularizer", None)
        if regularizer is not None:
            found.setdefault(f"{weight.name}_regularizer", regularizer)
    return found


def collect_strengths(model, found=None):
    """Every strength in `model`, keyed by a readable path.

    Walks the model's layers recursively (nested models included) and, for
    each, its own strengths and those of its kernel, bias, activity and other
    regularizers. A regularizer shared by several layers is listed once.

    Args:
        model: a model or layer.
        found: None, or a dict of strengths found already, which is
            extended (a strength in it is not listed again).

    Returns:
        dict: `"<layer>/<argument>"` or `"<layer>/<regularizer>/<argument>"`
        to `Strength`.
    """
    found = {} if found is None else found
    seen = {id(strength) for strength in found.values()}

    def add(path, strength):
        if id(strength) in seen:
            return
        seen.add(id(strength))
        unique, index = path, 1
        while unique in found:
            index += 1
            unique = f"{path}_{index}"
        found[unique] = strength

    # Children before parents, so a weight's regularizer is named after the
    # layer that owns the weight, not after the model that contains it.
    for layer in reversed(flatten_layers(model)):
        for arg, strength in strengths_of(layer).items():
            add(f"{layer.name}/{arg}", strength)
        for attr, regularizer in sorted(_regularizers_of(layer).items()):
            for arg, strength in strengths_of(regularizer).items():
                add(f"{layer.name}/{attr}/{arg}", strength)
    return found
