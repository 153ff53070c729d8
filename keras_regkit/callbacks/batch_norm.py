"""Batch-normalization statistics recomputed for given weights."""

import itertools

import keras
import numpy as np

from keras_regkit._compat.keras_layers import flatten_layers


def batch_norm_layers(model):
    """Every `keras.layers.BatchNormalization` inside `model` (nested
    models and layers included)."""
    return [layer for layer in flatten_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization)]


def _batches(data, batch_size, steps):
    """Input batches of `data`: an array (or dict/list of arrays), a
    `tf.data.Dataset`, a `keras.utils.PyDataset` or any iterable of
    batches; `(x, y[, w])` batches give `x`."""
    if isinstance(data, np.ndarray) or (
            isinstance(data, (dict, list)) and data
            and all(isinstance(v, np.ndarray) for v in (
                data.values() if isinstance(data, dict) else data))):
        first = keras.tree.flatten(data)[0]
        batches = (keras.tree.map_structure(
            lambda a, i=i: a[i:i + batch_size], data)
            for i in range(0, len(first), batch_size))
    else:
        batches = iter(data)
    for count, batch in enumerate(batches):
        if steps is not None and count >= steps:
            return
        if isinstance(batch, tuple):
            batch = keras.utils.unpack_x_y_sample_weight(batch)[0]
        yield batch


def recompute_batch_norm(model, data, batch_size=32, steps=None):
    """Sets every BatchNormalization's moving statistics to their average
    over `data`, for the model's current weights.

    Weights averaged by `SWA` (or interpolated, or pruned) never produced
    the moving means and variances their BatchNormalization layers hold;
    one pass over training data in training mode, with each layer's
    momentum set so that its moving statistics become the exact mean of
    the batches' statistics, gives the right ones (Izmailov et al.;
    PyTorch's `update_bn`). Other layers run in training mode too (as in
    PyTorch); no weight but the statistics changes.

    Args:
        model: a built `keras.Model`.
        data: training inputs: an array (or dict/list of arrays), a
            `tf.data.Dataset`, a `PyDataset` or an iterable of batches;
            `(x, y)` batches are fine.
        batch_size: int, batches cut from arrays. Defaults to `32`.
        steps: int or None, at most this many batches. Defaults to `None`
            (all of `data`).

    Returns:
        The number of batches used (0 when the model has no
        BatchNormalization, and `data` is then not read).

    Raises:
        ValueError: `data` gives no batch.

    Examples:

        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((2,)),
        ...                           keras.layers.BatchNormalization()])
        >>> x = np.array([[1.0, 2.0], [3.0, 6.0]], "float32")
        >>> recompute_batch_norm(model, x)
        1
        >>> keras.ops.convert_to_numpy(model.layers[0].moving_mean).tolist()
        [2.0, 4.0]
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    batches = _batches(data, batch_size, steps)
    first = next(batches, None)
    if first is None:
        raise ValueError(
            "recompute_batch_norm received data that gives no batch; pass "
            "training inputs (an array, a dataset or an iterable of "
            "batches)."
        )
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        for variable in (layer.moving_mean, layer.moving_variance):
            variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
    count = 0
    try:
        for batch in itertools.chain([first], batches):
            for layer in layers:
                # moving = moving * n / (n + 1) + batch / (n + 1): the mean.
                layer.momentum = count / (count + 1)
            model(batch, training=True)
            count += 1
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return count
