"""Short class names: `"RandomRotation"` in a config means our class.

Every public keras_regkit class is registered with Keras as
`"keras_regkit>Name"` (`register_keras_serializable`); that table is the one
registry of short names (callbacks, which Keras does not serialize, are
looked up in `keras_regkit.callbacks`). `Augment` (layers given as configs)
and the lab's recipes resolve names here, ours first (a drop-in shadows its
Keras namesake), then Keras's module of the same kind.

Examples:

    >>> import keras
    >>> from keras_regkit import layers
    >>> resolve("Dropout", keras.layers.Layer, keras.layers) is layers.Dropout
    True
    >>> resolve("Dense", keras.layers.Layer, keras.layers) is keras.layers.Dense
    True
"""

import keras

PACKAGE = "keras_regkit"


def resolve(name, base=object, *modules):
    """The class a short name means, or None.

    Args:
        name: a class name (`"RandomRotation"`).
        base: the class it must subclass. Defaults to `object`.
        *modules: modules to look in, in order, when no registered class of
            ours has that name (e.g. `keras_regkit.callbacks`, whose classes
            Keras does not serialize, then `keras.callbacks`).

    Returns:
        Our registered class, else the first module's class of that name
        that subclasses `base`, else None.
    """
    candidates = [keras.saving.get_registered_object(f"{PACKAGE}>{name}")]
    candidates += [getattr(module, str(name), None) for module in modules]
    for cls in candidates:
        if isinstance(cls, type) and issubclass(cls, base):
            return cls
    return None


def names_of(base):
    """The short names of our registered subclasses of `base`, sorted (for
    a message listing what a config may name).

    Examples:

        >>> from keras_regkit import training
        >>> names_of(training.StepComponent)[:3]
        ['AdaptiveGradientClipping', 'AdversarialTraining', 'AugMixConsistency']
    """
    prefix = f"{PACKAGE}>"
    return sorted(
        key[len(prefix):]
        for key, cls in keras.saving.get_custom_objects().items()
        if key.startswith(prefix) and isinstance(cls, type)
        and issubclass(cls, base) and not cls.__name__.startswith("_")
        and key[len(prefix):] == cls.__name__)
