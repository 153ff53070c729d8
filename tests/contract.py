"""The shared layer contract (our counterpart of Keras's `run_layer_test`).

`check_layer_contract` checks, for one layer class and arguments: config and
`serialize_keras_object` round trips compared as JSON, `.keras` save/load in
safe mode, symbolic and eager calls with `training` True and False (False is
the identity unless `identity_at_inference=False`), the numbers of seed
generators and strength variables, `supports_jit`, and one `fit` step with
`jit_compile=True`. Layers that change the shape (crops) pass
`expected_output_shape`; image layers pass `input_range` (e.g. `(0, 255)`).

Compiles are the cost of the suite: a family whose every layer is also
compiled, saved and reloaded in one model on every backend passes
`fit_and_save=False` on all backends but one (see
`tests/layers/augment/test_contract.py`).
"""

import json
import os

import keras
import numpy as np

from keras_regkit.strengths import strengths_of
from tests.helpers import XLA


def check_layer_contract(
    cls,
    kwargs,
    input_shape,
    expected_strength_variables=0,
    expected_seed_generators=1,
    identity_at_inference=True,
    tmp_path=None,
    expected_output_shape=None,
    input_range=None,
    fit_and_save=True,
):
    layer = cls(**kwargs)
    assert layer.supports_jit is True

    config = layer.get_config()
    config_json = json.dumps(config, sort_keys=True)
    # from_config may consume its argument (Keras's Wrapper pops "layer").
    revived = cls.from_config(json.loads(config_json))
    assert json.dumps(revived.get_config(), sort_keys=True) == config_json
    serialized = keras.saving.serialize_keras_object(layer)
    revived = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(serialized))
    )
    assert type(revived) is cls
    assert json.dumps(revived.get_config(), sort_keys=True) == config_json

    rng = np.random.default_rng(0)
    if input_range is None:
        x = rng.normal(size=input_shape).astype("float32")
    else:
        x = rng.uniform(*input_range, size=input_shape).astype("float32")
    output_shape = tuple(expected_output_shape or input_shape)
    symbolic = layer(keras.KerasTensor(input_shape))
    assert tuple(symbolic.shape) == output_shape
    eager_train = keras.ops.convert_to_numpy(layer(x, training=True))
    assert eager_train.shape == output_shape
    assert np.all(np.isfinite(eager_train))
    eager_infer = keras.ops.convert_to_numpy(layer(x, training=False))
    assert eager_infer.shape == output_shape
    if identity_at_inference:
        np.testing.assert_array_equal(eager_infer, x)

    seed_generators = [
        v for v in layer.non_trainable_variables if "seed_generator" in v.path
    ]
    assert len(seed_generators) == expected_seed_generators
    variables = [s.variable for s in strengths_of(layer).values()
                 if s.variable is not None]
    assert len(variables) == expected_strength_variables
    assert len(layer.trainable_weights) == 0 or cls.__name__ == "DropConnect"
    if not fit_and_save:
        return layer

    inputs = keras.Input(input_shape[1:])
    outputs = cls(**kwargs)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(
        keras.layers.Flatten()(outputs)))
    model.compile("sgd", "mse", jit_compile=XLA)
    model.fit(x, np.zeros((len(x), 1), "float32"), epochs=1, verbose=0)
    assert model.jit_compile is XLA
    if tmp_path is not None:
        path = os.fspath(tmp_path / f"{cls.__name__}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(
            loaded.predict(x, verbose=0), model.predict(x, verbose=0),
            rtol=1e-5, atol=1e-6,
        )
    return layer
