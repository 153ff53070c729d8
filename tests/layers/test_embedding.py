"""`Embedding(rows_regularizer=...)`: the penalty on looked-up rows only,
its gradient equal to the full table's on those rows, weighting, frequency
adaptivity, schedules, files, and `keras.distribution` on JAX."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import regularizers
from keras_regkit import schedules
from tests.helpers import XLA
from tests.helpers import TraceCounter

pytestmark = pytest.mark.backends

VOCABULARY, DIM = 50, 4
IDS = np.array([[3, 7, 7, 0], [7, 12, 3, 0]], "int32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _step(embedding, ids=IDS):
    """The table after one SGD(lr=1) step on the penalty alone (the model's
    output enters the loss times 0)."""
    inputs = keras.Input(ids.shape[1:], dtype="int32")
    model = keras.Model(inputs, embedding(inputs))
    model.compile(keras.optimizers.SGD(1.0),
                  lambda y, p: 0.0 * keras.ops.sum(p), jit_compile=XLA)
    before = _np(embedding.embeddings).copy()
    model.fit(ids, np.zeros((len(ids), 1)), batch_size=len(ids), epochs=1,
              verbose=0)
    return before, _np(embedding.embeddings)


@pytest.mark.parametrize("regularizer", [
    regularizers.L2(0.1), keras.regularizers.L1L2(0.05, 0.1),
    regularizers.L1(0.05)], ids=["ours_l2", "keras_l1l2", "ours_l1"])
def test_gradient_equals_the_full_tables_on_the_rows_looked_up(regularizer):
    keras.utils.set_random_seed(0)
    ours = layers.Embedding(VOCABULARY, DIM, rows_regularizer=regularizer)
    before, after = _step(ours)
    keras.utils.set_random_seed(0)
    full = keras.layers.Embedding(VOCABULARY, DIM,
                                  embeddings_regularizer=regularizer)
    full_before, full_after = _step(full)
    np.testing.assert_array_equal(before, full_before)
    used = np.unique(IDS)
    np.testing.assert_allclose(after[used], full_after[used], rtol=1e-6,
                               atol=1e-7)
    unused = np.setdiff1d(np.arange(VOCABULARY), used)
    np.testing.assert_array_equal(after[unused], before[unused])
    assert np.abs(after[used] - before[used]).min() > 0


def test_weightings_padding_and_frequencies():
    table = np.arange(VOCABULARY * DIM, dtype="float32").reshape(
        VOCABULARY, DIM) / 100.0
    squares = (table ** 2).sum(axis=1)
    flat = IDS.ravel()
    rows = keras.ops.take(table, IDS, axis=0)
    unique = layers.looked_up_rows_penalty(rows, IDS, VOCABULARY, l2=1.0)
    np.testing.assert_allclose(_np(unique), squares[np.unique(flat)].sum(),
                               rtol=1e-6)
    count = layers.looked_up_rows_penalty(rows, IDS, VOCABULARY, l2=1.0,
                                          weighting="count", padding_id=0)
    np.testing.assert_allclose(_np(count), squares[flat[flat != 0]].sum(),
                               rtol=1e-6)
    # mask_zero: id 0 is padding, never penalized; frequency-adaptive:
    # each row divided by its id's count (at least 1).
    frequencies = np.zeros(VOCABULARY)
    frequencies[[3, 7, 12]] = [4.0, 10.0, 0.0]
    layer = layers.Embedding(
        VOCABULARY, DIM, mask_zero=True, weights=[table],
        rows_regularizer=keras.regularizers.L2(1.0),
        id_frequencies=frequencies)
    expected = squares[3] / 4 + squares[7] / 10 + squares[12]
    np.testing.assert_allclose(_np(layer.rows_penalty(IDS)), expected,
                               rtol=1e-6)
    layer(IDS)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(_np(layer.losses[0]), expected, rtol=1e-6)


def test_scheduled_factor_files_and_embedding_dropout(tmp_path):
    """A scheduled L2 moves in `fit`; a model with our `Embedding` (id
    frequencies included) and `EmbeddingDropout` with a row penalty saves
    and reloads in safe mode."""
    inputs = keras.Input((4,), dtype="int32")
    traced = TraceCounter(name="trace_counter")(inputs)
    x = layers.Embedding(
        VOCABULARY, DIM, name="rows", rows_regularizer=regularizers.L2(
            schedules.Linear(0.0, 0.2, duration=2)),
        id_frequencies=np.arange(VOCABULARY) % 5)(traced)
    y = layers.EmbeddingDropout(VOCABULARY, DIM, rate=0.2, seed=1,
                                mask_zero=True,
                                rows_regularizer=keras.regularizers.L2(0.01),
                                rows_weighting="count")(inputs)
    pooled = keras.layers.Concatenate()([
        keras.layers.GlobalAveragePooling1D()(x),
        keras.layers.GlobalAveragePooling1D()(y)])
    model = keras.Model(inputs, keras.layers.Dense(1)(pooled))
    model.compile("sgd", "mse", jit_compile=XLA)
    ids = np.random.default_rng(0).integers(0, VOCABULARY, (16, 4))
    counter = model.get_layer("trace_counter")
    traces = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: traces.append(counter.traces))
    history = model.fit(ids, np.zeros((16, 1)), epochs=3, verbose=0,
                        callbacks=[callbacks.StrengthScheduler(), probe])
    assert history.history["regkit/rows/rows_regularizer/l2"] == (
        pytest.approx([0.0, 0.1, 0.2]))
    if XLA:  # the new factor was read without a retrace
        assert traces == [traces[0]] * 3
    path = os.fspath(tmp_path / "rows.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(
        _np(loaded.get_layer("rows").id_frequencies),
        np.arange(VOCABULARY) % 5)
    np.testing.assert_allclose(loaded.predict(ids, verbose=0),
                               model.predict(ids, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(
        loaded.evaluate(ids, np.zeros((16, 1)), verbose=0),
        model.evaluate(ids, np.zeros((16, 1)), verbose=0), rtol=1e-5)


@pytest.mark.parametrize(("argument", "kwargs"), [
    ("rows_regularizer", {"rows_regularizer": "orthogonal_regularizer"}),
    ("rows_regularizer", {"rows_regularizer": 0.1}),
    ("rows_regularizer", {"rows_regularizer": regularizers.GroupLasso()}),
    ("rows_weighting", {"rows_weighting": "mean"}),
    ("id_frequencies", {"id_frequencies": [1.0, 2.0]}),
    ("id_frequencies", {"id_frequencies": -np.ones(VOCABULARY)}),
    ("id_frequencies", {"id_frequencies": "counts"}),
])
def test_bad_arguments_get_one_clear_error(argument, kwargs):
    with pytest.raises((ValueError, TypeError), match=argument):
        layers.Embedding(VOCABULARY, DIM, **kwargs)


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX only")
def test_jax_distribution_matches_one_device():
    """Under `DataParallel` and a `ModelParallel` layout that shards the
    table's rows over 2 devices, the row penalty trains to the weights of
    one device."""
    script = textwrap.dedent(
        """
        import os, json
        os.environ["KERAS_BACKEND"] = "jax"
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        import jax, keras, numpy as np
        from keras_regkit import layers, regularizers

        def run(distribution):
            keras.distribution.set_distribution(distribution)
            keras.utils.set_random_seed(0)
            inputs = keras.Input((6,), dtype="int32")
            x = layers.Embedding(64, 8, name="table", mask_zero=True,
                                 rows_regularizer=regularizers.L2(0.05),
                                 id_frequencies=np.arange(64) % 3)(inputs)
            outputs = keras.layers.Dense(1)(
                keras.layers.GlobalAveragePooling1D()(x))
            model = keras.Model(inputs, outputs)
            model.compile(keras.optimizers.SGD(0.1), "mse")
            rng = np.random.default_rng(0)
            ids = rng.integers(0, 64, (32, 6))
            y = rng.normal(size=(32, 1)).astype("float32")
            h = model.fit(ids, y, batch_size=16, epochs=3, verbose=0,
                          shuffle=False)
            table = model.get_layer("table").embeddings.value
            weights = [w.tolist() for w in model.get_weights()]
            keras.distribution.set_distribution(None)
            return (weights, h.history["loss"][-1],
                    len(table.sharding.device_set))

        devices = jax.devices()
        mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"],
                                             devices)
        layout = keras.distribution.LayoutMap(mesh)
        layout["table/embeddings"] = ("model", None)
        print(json.dumps({
            "one": run(None),
            "data": run(keras.distribution.DataParallel(devices=devices)),
            "model": run(keras.distribution.ModelParallel(
                layout_map=layout, batch_dim_name="batch")),
        }))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    result = subprocess.run([sys.executable, "-c", script], env=env,
                            capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    one_weights, one_loss, _ = out["one"]
    for name in ("data", "model"):
        weights, loss, devices = out[name]
        assert devices == 2
        assert loss == pytest.approx(one_loss, rel=1e-4)
        for a, b in zip(weights, one_weights, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
