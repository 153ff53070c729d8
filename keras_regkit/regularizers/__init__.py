"""Regularizers whose factors may follow a schedule.

`L1`, `L2`, `L1L2` and `OrthogonalRegularizer` are drop-ins for
`keras.regularizers`; `GroupLasso` adds structured sparsity. `get()` accepts
the same strings and dicts as `keras.regularizers.get`.
"""

import inspect

import keras

from keras_regkit import _registration
from keras_regkit.regularizers._base import Regularizer
from keras_regkit.regularizers.group_lasso import GroupLasso
from keras_regkit.regularizers.penalties import L1
from keras_regkit.regularizers.penalties import L1L2
from keras_regkit.regularizers.penalties import L2
from keras_regkit.regularizers.penalties import OrthogonalRegularizer

# Lower-case aliases, as in keras.regularizers.
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer
group_lasso = GroupLasso

_CLASSES = (L1, L2, L1L2, OrthogonalRegularizer, GroupLasso)
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update(
    {
        "l1": L1,
        "l2": L2,
        "l1l2": L1L2,
        "l1_l2": L1L2,
        "orthogonal_regularizer": OrthogonalRegularizer,
        "group_lasso": GroupLasso,
    }
)


def _l1_l2_default():
    # The string "l1_l2" means 0.01 for both factors, as in Keras's docs.
    return L1L2(l1=0.01, l2=0.01)


def serialize(regularizer):
    """Serializes a regularizer to a JSON-safe dict."""
    return keras.saving.serialize_keras_object(regularizer)


def deserialize(config, custom_objects=None):
    """Rebuilds a regularizer from `serialize()` output or a Keras config."""
    return keras.saving.deserialize_keras_object(
        config, module_objects=_BY_NAME, custom_objects=custom_objects
    )


def get(identifier):
    """Retrieves a regularizer from a name, config dict or instance.

    Names are the class names and their snake-case forms (`"l2"`,
    `"l1_l2"`, `"group_lasso"`); a name gives the class with its default
    factors.

    Raises:
        ValueError: unknown name, listing the names allowed.
        TypeError: an identifier that is neither a name, dict nor callable.

    Examples:

        >>> get("l2")
        L2(l2=0.01)
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        if identifier == "l1_l2":
            return _l1_l2_default()
        obj = _BY_NAME.get(identifier)
        if obj is None:
            raise ValueError(
                f"Unknown regularizer: {identifier!r}. Allowed names: "
                f"{', '.join(sorted(_BY_NAME))}."
            )
    else:
        obj = identifier
    if inspect.isclass(obj):
        obj = obj()
    if not callable(obj):
        raise TypeError(
            "Could not interpret regularizer identifier: expected a name, a "
            f"config dict or a callable. Received: {identifier!r}"
        )
    return obj


__all__ = [
    "Regularizer",
    "L1",
    "L2",
    "L1L2",
    "OrthogonalRegularizer",
    "GroupLasso",
    "l1",
    "l2",
    "l1_l2",
    "orthogonal_regularizer",
    "group_lasso",
    "get",
    "serialize",
    "deserialize",
]

# Last: registers our classes with Keras if this import loaded it.
_registration.package_loaded(__name__)
