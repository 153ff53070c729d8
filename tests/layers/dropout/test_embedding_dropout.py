"""EmbeddingDropout: whole words dropped; a drop-in for keras's Embedding."""

import json

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit import schedules
from keras_regkit.callbacks import StrengthScheduler
from tests.helpers import XLA
from tests.helpers import TraceCounter

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_every_occurrence_of_a_dropped_word_is_zeroed():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, size=(64, 50)).astype("int32")
    layer = layers.EmbeddingDropout(20, 4, rate=0.3, seed=0,
                                    embeddings_initializer="ones")
    out = _np(layer(ids, training=True))
    np.testing.assert_allclose(np.unique(out), [0.0, 1.0 / 0.7], rtol=1e-6)
    dropped = out[..., 0] == 0
    assert (out[..., 0] == 0).tolist() == (out[..., 3] == 0).tolist()
    for row in range(64):
        for token in np.unique(ids[row]):
            decisions = dropped[row][ids[row] == token]
            assert decisions.all() or not decisions.any()
    # Per sequence: the same id is kept in some rows, dropped in others;
    # about `rate` of the (sequence, id) pairs are dropped.
    pairs = {(r, t): dropped[r][ids[r] == t][0]
             for r in range(64) for t in np.unique(ids[r])}
    assert np.mean(list(pairs.values())) == pytest.approx(0.3, abs=0.05)
    per_id = [[pairs[(r, t)] for r in range(64) if (r, t) in pairs]
              for t in range(20)]
    assert all(0 < np.mean(d) < 1 for d in per_id)
    # The expected embedding is unchanged.
    assert out.mean() == pytest.approx(1.0, abs=0.05)
    np.testing.assert_array_equal(_np(layer(ids, training=False)), 1.0)


def test_per_batch_drops_an_id_in_every_sequence():
    ids = np.tile(np.arange(30, dtype="int32"), (8, 1))
    layer = layers.EmbeddingDropout(30, 2, rate=0.5, per_batch=True, seed=1,
                                    embeddings_initializer="ones")
    dropped = _np(layer(ids, training=True))[..., 0] == 0
    assert (dropped == dropped[:1]).all() and 0 < dropped.mean() < 1


def test_embedding_dropout_trains_saves_and_follows_a_schedule(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12,), dtype="int32")
    counter = TraceCounter()
    x = layers.EmbeddingDropout(
        50, 8, rate=schedules.Linear(0.0, 0.4, duration=2), mask_zero=True,
        seed=0, name="embed")(counter(inputs))
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True),
                  jit_compile=XLA)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, size=(32, 12)).astype("int32")
    y = rng.integers(0, 2, size=(32,))
    traces = []
    history = model.fit(ids, y, epochs=3, batch_size=8, verbose=0,
                        callbacks=[StrengthScheduler(),
                                   keras.callbacks.LambdaCallback(
                                       on_epoch_end=lambda e, logs:
                                       traces.append(counter.traces))])
    np.testing.assert_allclose(history.history["regkit/embed/rate"],
                               [0.0, 0.2, 0.4], rtol=1e-6)
    if XLA:
        assert traces == [traces[0]] * 3
    path = str(tmp_path / "embed.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_np(loaded(ids)), _np(model(ids)), rtol=1e-5,
                               atol=1e-6)
    config = model.get_layer("embed").get_config()
    revived = layers.EmbeddingDropout.from_config(
        json.loads(json.dumps(config)))
    assert revived.get_config() == config
    assert revived.supports_jit is True
    assert len(model.get_layer("embed").non_trainable_weights) == 1


def test_monte_carlo_stays_active_and_errors_name_the_argument():
    layer = layers.EmbeddingDropout(10, 3, rate=0.5, seed=0,
                                    monte_carlo=True)
    ids = np.arange(10, dtype="int32")[None].repeat(4, 0)
    assert (_np(layer(ids)) == 0).any()
    with pytest.raises(ValueError, match="`rate`"):
        layers.EmbeddingDropout(10, 3, rate=1.0)
    with pytest.raises(TypeError, match="`per_batch` of EmbeddingDropout"):
        layers.EmbeddingDropout(10, 3, per_batch="yes")


@pytest.mark.tf
def test_sparse_ids_are_refused_in_training_and_embedded_at_inference():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("ragged tensors are TensorFlow's")
    ids = tf.ragged.constant([[1, 2, 3], [4]])
    layer = layers.EmbeddingDropout(10, 2, rate=0.2, seed=0)
    assert layer(ids).shape[0] == 2
    with pytest.raises(ValueError, match="dense batches of token ids"):
        layer(ids, training=True)
