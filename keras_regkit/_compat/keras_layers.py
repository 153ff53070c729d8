"""A model's layer tree, and a sublayer attached to a built model."""


def flatten_layers(model):
    """`model` and every layer inside it, nested models' included, parents
    before children.

    Keras 3.0+: `Layer._flatten_layers(include_self, recursive)` walks the
    tracked sublayers (of any layer, not only of models; `model.layers` is
    one level deep). Objects without it (not Keras layers) are walked
    through `layers`.
    """
    if hasattr(model, "_flatten_layers"):
        return list(model._flatten_layers(include_self=True, recursive=True))
    layers = [model]
    for layer in getattr(model, "layers", []):
        layers.extend(flatten_layers(layer))
    return layers


def attach_sublayer(model, attribute, layer):
    """Makes `layer` a tracked sublayer of the built `model`, so that its
    variables are part of the model's state (`model.variables`, JAX's
    `fit` state), set as `attribute`.

    Keras 3.0+: setting a layer attribute tracks it through the layer's
    `_tracker`, which a built model locks. A Functional model accepts it.
    A Sequential model's `_flatten_layers` walks its `_layers` list, not
    its attributes, so there the layer hangs from the first layer in that
    list, its tracker unlocked for that one attribute.

    Raises:
        ValueError, AttributeError, IndexError: the model accepts no new
            sublayer (a built subclassed model).
    """
    setattr(model, attribute, layer)
    if any(found is layer for found in flatten_layers(model)):
        return
    first = model._layers[0]
    locked = first._tracker.locked
    first._tracker.unlock()
    try:
        setattr(first, attribute, layer)
    finally:
        if locked:
            first._tracker.lock()
