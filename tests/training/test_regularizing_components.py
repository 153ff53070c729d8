"""Decoupled weight decay, R-Drop and label smoothing in the train step,
against hand-computed references, on every backend."""

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit import schedules
from keras_regkit import training
from keras_regkit.callbacks import StrengthScheduler
from keras_regkit.layers.augment import CutMix
from keras_regkit.layers.augment import MixUp
from tests.helpers import XLA
from tests.helpers import TraceCounter

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _mlp(components, dropout=0.0, seed=0, classes=3, activation=None):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = TraceCounter(name="trace_counter")(inputs)
    x = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    x = keras.layers.Dropout(dropout, seed=seed)(x)
    x = keras.layers.LayerNormalization(name="norm")(x)
    outputs = keras.layers.Dense(classes, activation=activation,
                                 name="out")(x)
    return training.RegularizedModel(inputs, outputs, components=components)


def _data(n=32, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 4)).astype("float32"),
            rng.integers(0, classes, size=(n,)))


# -- DecoupledWeightDecay ---------------------------------------------------

@pytest.mark.parametrize("schedule", [False, True])
def test_weight_decay_with_adam_equals_keras_adamw(schedule):
    x, y = _data()
    rate = 0.05
    reference = _mlp([])
    reference.compile(keras.optimizers.AdamW(0.01, weight_decay=rate),
                      keras.losses.SparseCategoricalCrossentropy(True))
    decayed = _mlp([training.DecoupledWeightDecay(
        schedules.Constant(rate) if schedule else rate, exclude=[])])
    decayed.compile(keras.optimizers.Adam(0.01),
                    keras.losses.SparseCategoricalCrossentropy(True),
                    jit_compile=XLA)
    for model in (reference, decayed):
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                  callbacks=[StrengthScheduler()])
    # The scheduled rate adds a (non-trainable) strength variable.
    for ours, theirs in zip(decayed.trainable_variables,
                            reference.trainable_variables, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(ours),
                                   keras.ops.convert_to_numpy(theirs),
                                   rtol=2e-5, atol=2e-6)
    plain = _mlp([])
    plain.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(True))
    plain.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert not np.allclose(plain.get_weights()[0], decayed.get_weights()[0])


def test_weight_decay_excludes_vectors_by_default_and_globs_on_request():
    component = training.DecoupledWeightDecay(0.1)
    model = _mlp([component])
    decayed = {v.path for v in model.trainable_variables
               if component.decays(v)}
    assert decayed == {"hidden/kernel", "out/kernel"}
    by_glob = training.DecoupledWeightDecay(0.1, exclude=["out/*", "*bias"])
    assert {v.path for v in model.trainable_variables
            if by_glob.decays(v)} == {"hidden/kernel", "norm/gamma",
                                      "norm/beta"}


def test_weight_decay_follows_a_schedule_without_retracing():
    # SGD with a zero loss gradient: each epoch multiplies the kernel by
    # (1 - lr * rate(epoch)).
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,))
    counter = TraceCounter()
    outputs = keras.layers.Dense(
        1, kernel_initializer="ones", use_bias=False, name="d")(
            counter(inputs))
    rate = schedules.Piecewise([1, 2], [0.0, 0.5, 1.0])
    model = training.RegularizedModel(
        inputs, outputs, components=[training.DecoupledWeightDecay(rate)])
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=XLA)
    kernels, traces = [], []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: (
        kernels.append(float(_np(model.get_layer("d").kernel)[0, 0])),
        traces.append(counter.traces)))
    model.fit(np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32"),
              batch_size=4, epochs=3, verbose=0,
              callbacks=[StrengthScheduler(), record])
    np.testing.assert_allclose(kernels, [1.0, 0.95, 0.95 * 0.9], rtol=1e-6)
    if XLA:
        assert traces == [traces[0]] * 3  # traced in the first epoch only


def test_weight_decay_errors():
    with pytest.raises(ValueError, match="`rate` of DecoupledWeightDecay"):
        training.DecoupledWeightDecay(-1.0)
    with pytest.raises(ValueError, match="`exclude` of DecoupledWeight"):
        training.DecoupledWeightDecay(0.1, exclude="*bias")


# -- RDrop --------------------------------------------------------------------

def test_symmetric_kl_matches_numpy():
    rng = np.random.default_rng(0)
    logits_p, logits_q = rng.normal(size=(2, 5, 4))
    p = np.exp(logits_p) / np.exp(logits_p).sum(1, keepdims=True)
    q = np.exp(logits_q) / np.exp(logits_q).sum(1, keepdims=True)
    expected = 0.5 * ((p * np.log(p / q)).sum(1) + (q * np.log(q / p)).sum(1))
    np.testing.assert_allclose(
        _np(training.symmetric_kl(p.astype("float32"),
                                  q.astype("float32"))), expected, rtol=1e-4)
    np.testing.assert_allclose(
        _np(training.symmetric_kl(logits_p.astype("float32"),
                                  logits_q.astype("float32"),
                                  from_logits=True)), expected, rtol=1e-4)
    # One unit: a Bernoulli prediction.
    a, b = np.array([[0.2]]), np.array([[0.7]])
    bern = 0.5 * ((a * np.log(a / b) + (1 - a) * np.log((1 - a) / (1 - b)))
                  + (b * np.log(b / a) + (1 - b) * np.log((1 - b) / (1 - a))))
    np.testing.assert_allclose(
        _np(training.symmetric_kl(a.astype("float32"), b.astype("float32"))),
        bern.ravel(), rtol=1e-5)


def test_rdrop_loss_is_both_passes_plus_half_alpha_kl():
    x, y = _data(n=8)
    component = training.RDrop(alpha=2.0, from_logits=True, seed=0)
    model = _mlp([component], dropout=0.5)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True))
    batch = training.StepBatch(keras.ops.convert_to_tensor(x),
                               keras.ops.convert_to_tensor(y), None)
    doubled = component.transform_batch(batch, None)
    assert tuple(doubled.x.shape) == (16, 4)
    logits = _np(model(doubled.x, training=True))
    first, second = logits[:8], logits[8:]
    assert not np.allclose(first, second)  # independent dropout masks

    class Step:
        def log(self, name, value):
            self.logged = float(value)

    step = Step()
    term = float(component.loss_term(keras.ops.convert_to_tensor(logits),
                                     doubled, step))
    kl = _np(training.symmetric_kl(first, second, from_logits=True)).mean()
    assert term == pytest.approx(0.5 * 2.0 * kl, rel=1e-5)
    assert step.logged == pytest.approx(kl, rel=1e-5)


def test_rdrop_trains_and_saves(tmp_path):
    x, y = _data()
    model = _mlp([training.RDrop(alpha=1.0, from_logits=True, seed=1),
                  training.StepMixUp(0.2, seed=0)], dropout=0.3)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True),
                  metrics=["accuracy"], jit_compile=XLA)
    logs = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    assert logs["rdrop_kl"][-1] > 0 and np.isfinite(logs["loss"]).all()
    path = str(tmp_path / "rdrop.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(c).__name__ for c in loaded.step_components] == [
        "RDrop", "StepMixUp"]
    np.testing.assert_allclose(_np(loaded(x[:4])), _np(model(x[:4])),
                               rtol=1e-5, atol=1e-6)
    # Without dropout both passes agree: no consistency term.
    plain = _mlp([training.RDrop(alpha=1.0, from_logits=True)])
    plain.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True),
                  jit_compile=XLA)
    assert plain.fit(x, y, batch_size=8, verbose=0).history[
        "rdrop_kl"][0] == pytest.approx(0.0, abs=1e-6)


# -- label smoothing on mixing ----------------------------------------------

def _smooth(one_hot, s):
    return one_hot * (1 - s) + s / one_hot.shape[1]


@pytest.mark.parametrize("layer", [MixUp, CutMix])
@pytest.mark.parametrize("sparse", [False, True])
def test_mixing_layers_smooth_labels_before_mixing(layer, sparse):
    images = np.random.default_rng(0).random((6, 8, 8, 3)).astype("float32")
    classes = np.array([0, 1, 2, 3, 0, 1])
    labels = classes if sparse else np.eye(4, dtype="float32")[classes]
    plain = layer(seed=3, num_classes=4)
    smoothed = layer(seed=3, num_classes=4, label_smoothing=0.2)
    want = _np(plain({"images": images, "labels": labels})["labels"])
    got = _np(smoothed({"images": images, "labels": labels})["labels"])
    # Mixing is linear: mixing smoothed labels = smoothing mixed labels.
    np.testing.assert_allclose(got, _smooth(want, 0.2), rtol=1e-5)
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-5)
    config = smoothed.get_config()
    assert config["label_smoothing"] == 0.2
    assert type(smoothed).from_config(config).label_smoothing == 0.2


@pytest.mark.parametrize("sparse", [False, True])
def test_step_mixup_smoothing_equals_crossentropy_of_smoothed_mixed_labels(
        sparse):
    x, classes = _data(n=8)
    component = training.StepMixUp(alpha=0.4, label_smoothing=0.1, seed=0)
    model = _mlp([component])
    model.compile("sgd", keras.losses.CategoricalCrossentropy(
        from_logits=True))
    mixed, weight, order = (_np(t) for t in component.mix(
        keras.ops.convert_to_tensor(x)))
    logits = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
    labels = classes if sparse else np.eye(3, dtype="float32")[classes]
    loss = _np(model._loss(x, labels, logits, None, (weight, order, 0.1)))
    one_hot = _smooth(np.eye(3)[classes], 0.1)
    soft = weight[:, None] * one_hot + (1 - weight[:, None]) * one_hot[order]
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert loss == pytest.approx(-(soft * log_p).sum(1).mean(), rel=1e-5)


def test_step_mixing_with_smoothing_trains_and_refuses_a_sparse_loss():
    x, y = _data()
    model = _mlp([training.StepCutMix(label_smoothing=0.1, seed=0)])
    model = _mlp([training.StepMixUp(label_smoothing=0.1, seed=0)])
    model.compile("adam", keras.losses.CategoricalCrossentropy(True),
                  metrics=["sparse_categorical_accuracy"], jit_compile=XLA)
    logs = model.fit(x, y, batch_size=8, verbose=0).history
    assert np.isfinite(logs["loss"][0])
    assert training.StepMixUp.from_config(
        model.step_components[0].get_config()).label_smoothing == 0.1
    sparse = _mlp([training.StepMixUp(label_smoothing=0.1, seed=0)])
    sparse.compile("adam", "sparse_categorical_crossentropy",
                   jit_compile=XLA)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        sparse.fit(x, y, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="`label_smoothing` of StepMixUp"):
        training.StepMixUp(label_smoothing=1.0)
    with pytest.raises(ValueError, match="`label_smoothing` of CutMix"):
        CutMix(label_smoothing=-0.1)


def test_label_smoothing_alone_keeps_inputs_and_smooths_labels():
    x, classes = _data(n=8)
    model = _mlp([training.LabelSmoothing(0.2)])
    model.compile("sgd", keras.losses.CategoricalCrossentropy(True),
                  metrics=["accuracy"], jit_compile=XLA)
    batch = training.StepBatch(x, classes, None)
    out = model.step_components[0].transform_batch(batch, None)
    assert out.x is x
    logits = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
    loss = _np(model._loss(x, classes, logits, None, out.label_mixing))
    soft = _smooth(np.eye(3)[classes], 0.2)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert loss == pytest.approx(-(soft * log_p).sum(1).mean(), rel=1e-5)
    logs = model.fit(x, classes, verbose=0, validation_data=(x, classes))
    assert np.isfinite(logs.history["val_loss"][0])
    with pytest.raises(ValueError, match="at most one label mixing"):
        _mlp([training.LabelSmoothing(), training.StepMixUp()])


def test_component_logs_describe_training_only():
    x, y = _data()
    model = _mlp([training.RDrop(from_logits=True, seed=0),
                  training.GradientClipping(global_clipnorm=1.0)],
                 dropout=0.3)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True),
                  metrics=["accuracy"], jit_compile=XLA)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                        validation_data=(x, y)).history
    assert {"rdrop_kl", "grad_norm", "val_loss", "val_accuracy"} <= set(
        history)
    assert not any(k.startswith("val_") and k[4:] in ("rdrop_kl",
                   "grad_norm", "clipped", "grad_norm_clipped")
                   for k in history)
    assert all(v > 0 for v in history["grad_norm"])
    assert set(model.evaluate(x, y, verbose=0, return_dict=True)) == {
        "loss", "accuracy"}


# -- AugMixConsistency --------------------------------------------------------

def test_jensen_shannon_matches_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 5, 4))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    m = p.mean(0)
    expected = np.mean([(q * np.log(q / m)).sum(-1) for q in p], axis=0)
    np.testing.assert_allclose(
        _np(training.jensen_shannon(list(logits.astype("float32")),
                                    from_logits=True)), expected, rtol=1e-4)


def _conv(components):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3)(x)
    return training.RegularizedModel(inputs, outputs, components=components)


def _images(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 1, (n, 8, 8, 3)).astype("float32"),
            rng.integers(0, 3, size=(n,)))


def test_augmix_consistency_is_clean_loss_plus_weighted_js():
    x, y = _images()
    component = training.AugMixConsistency(
        layers.AugMix(value_range=(0, 1), seed=0), weight=12.0,
        from_logits=True)
    model = _conv([component])
    loss = keras.losses.SparseCategoricalCrossentropy(True)
    model.compile("sgd", loss)
    batch = training.StepBatch(keras.ops.convert_to_tensor(x),
                               keras.ops.convert_to_tensor(y), None)
    tripled = component.transform_batch(batch, None)
    views = _np(tripled.x)
    assert views.shape == (24, 8, 8, 3)
    np.testing.assert_array_equal(views[:8], x)  # the clean images first
    assert not np.allclose(views[8:16], x)
    assert not np.allclose(views[8:16], views[16:])  # independent views
    logits = keras.ops.convert_to_tensor(_np(model(tripled.x)))
    model_loss = float(_np(model._loss(tripled.x, tripled.y, logits,
                                       tripled.sample_weight, None)))
    assert model_loss == pytest.approx(float(_np(loss(y, logits[:8]))),
                                       rel=1e-5)

    class Step:
        def log(self, name, value):
            self.logged = float(value)

    step = Step()
    term = float(_np(component.loss_term(logits, tripled, step)))
    js = _np(training.jensen_shannon(np.split(_np(logits), 3),
                                     from_logits=True)).mean()
    assert js > 0
    assert term == pytest.approx(12.0 * js, rel=1e-5)
    assert step.logged == pytest.approx(js, rel=1e-5)


def test_augmix_consistency_trains_compiled_and_saves(tmp_path):
    """Worth its 15-30 s on TensorFlow (XLA compiling a step with AugMix's
    two views): the only compiled fit of this component."""
    x, y = _images(16)
    model = _conv([training.AugMixConsistency(
        layers.AugMix(value_range=(0, 1), seed=1),
        weight=schedules.Linear(0.0, 12.0, 2), from_logits=True)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True),
                  metrics=["accuracy"], jit_compile=XLA)
    logs = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                     callbacks=[StrengthScheduler()]).history
    assert all(v > 0 for v in logs["augmix_js"])
    assert np.isfinite(logs["loss"]).all()
    path = str(tmp_path / "augmix.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    [component] = loaded.step_components
    assert type(component) is training.AugMixConsistency
    assert type(component.augment) is layers.AugMix
    assert component.augment.value_range == (0.0, 1.0)
    np.testing.assert_allclose(_np(loaded(x[:4])), _np(model(x[:4])),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"at most one consistency"):
        _conv([training.AugMixConsistency(), training.RDrop()])
    with pytest.raises(TypeError, match=r"`augment` must be a keras_regkit"):
        training.AugMixConsistency(keras.layers.RandomFlip())
