"""L1, L2, L1L2, OrthogonalRegularizer: drop-in behaviour and schedules."""

import json

import keras
import numpy as np
import pytest

from keras_regkit import regularizers
from keras_regkit import schedules
from keras_regkit.strengths import strengths_of

pytestmark = pytest.mark.backends

WEIGHTS = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")


def _penalty(reg, value=WEIGHTS):
    return float(keras.ops.convert_to_numpy(reg(keras.Variable(value))))


PAIRS = [
    (regularizers.L1(0.1), keras.regularizers.L1(0.1)),
    (regularizers.L2(0.1), keras.regularizers.L2(0.1)),
    (regularizers.L1L2(0.1, 0.2), keras.regularizers.L1L2(0.1, 0.2)),
    (regularizers.L1L2(l2=0.3), keras.regularizers.L1L2(l2=0.3)),
    (regularizers.L1(), keras.regularizers.L1()),
    (regularizers.L2(None), keras.regularizers.L2(None)),
    (
        regularizers.OrthogonalRegularizer(0.2, "columns"),
        keras.regularizers.OrthogonalRegularizer(0.2, "columns"),
    ),
    (
        regularizers.OrthogonalRegularizer(),
        keras.regularizers.OrthogonalRegularizer(),
    ),
]


@pytest.mark.parametrize(
    "ours, theirs", PAIRS, ids=[repr(ours) for ours, _ in PAIRS]
)
def test_same_penalty_and_config_as_keras(ours, theirs):
    assert _penalty(ours) == pytest.approx(_penalty(theirs), rel=1e-6)
    assert ours.get_config() == pytest.approx(theirs.get_config()) or (
        ours.get_config() == theirs.get_config()
    )
    assert set(ours.get_config()) == set(theirs.get_config())


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (regularizers.L1, {}),
        (regularizers.L2, {}),
        (regularizers.L1L2, {}),
        (regularizers.OrthogonalRegularizer, {}),
    ],
)
def test_same_defaults_as_keras(cls, kwargs):
    theirs = getattr(keras.regularizers, cls.__name__)(**kwargs)
    assert cls(**kwargs).get_config() == pytest.approx(theirs.get_config()) or (
        cls(**kwargs).get_config() == theirs.get_config()
    )


def test_keras_config_loads_into_ours_and_back():
    keras_config = keras.regularizers.L1L2(0.1, 0.2).get_config()
    ours = regularizers.L1L2.from_config(keras_config)
    assert ours.get_config() == keras_config
    revived = keras.regularizers.L1L2.from_config(ours.get_config())
    assert revived.get_config() == (
        keras_config
    )


def test_scheduled_factor_serializes_as_schedule_constant_as_float():
    schedule = schedules.Linear(0.0, 1e-3, 3)
    reg = regularizers.L1L2(l1=0.01, l2=schedule)
    config = reg.get_config()
    assert config["l1"] == 0.01
    assert config["l2"]["class_name"] == "Linear"
    revived = regularizers.deserialize(
        json.loads(json.dumps(regularizers.serialize(reg)))
    )
    assert isinstance(revived, regularizers.L1L2)
    assert strengths_of(revived)["l2"].schedule == schedule


def test_factor_is_read_from_the_variable():
    reg = regularizers.L2(l2=schedules.Linear(0.0, 1.0, 2))
    assert _penalty(reg) == 0.0
    strength = strengths_of(reg)["l2"]
    strength.assign(strength.value_at(1))
    assert _penalty(reg) == pytest.approx(0.5 * float(np.sum(WEIGHTS**2)),
                                          rel=1e-6)
    assert float(reg.l2) == 0.5


def test_scheduled_zero_factor_is_not_dropped_from_l1l2():
    reg = regularizers.L1L2(l1=schedules.Linear(0.0, 1.0, 1))
    assert _penalty(reg) == 0.0
    strength = strengths_of(reg)["l1"]
    strength.assign(strength.value_at(1))
    assert _penalty(reg) == pytest.approx(float(np.sum(np.abs(WEIGHTS))),
                                          rel=1e-6)


def test_works_inside_a_keras_layer_and_model_save(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                3,
                kernel_regularizer=regularizers.OrthogonalRegularizer(0.1),
                bias_regularizer=regularizers.L1(0.1),
                activity_regularizer=regularizers.L2(0.01),
            ),
        ]
    )
    model(np.ones((2, 4), "float32"))
    assert len(model.losses) == 3
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = loaded.layers[0]
    assert isinstance(layer.kernel_regularizer,
                      regularizers.OrthogonalRegularizer)
    assert isinstance(layer.activity_regularizer, regularizers.L2)
    loaded(np.ones((2, 4), "float32"))

    def total(m):
        return sum(float(keras.ops.convert_to_numpy(v)) for v in m.losses)

    assert total(loaded) == pytest.approx(total(model), rel=1e-6)


def test_get_strings_dicts_and_instances():
    assert isinstance(regularizers.get("l1"), regularizers.L1)
    assert isinstance(regularizers.get("L2"), regularizers.L2)
    assert isinstance(regularizers.get("l1l2"), regularizers.L1L2)
    both = regularizers.get("l1_l2")
    assert both.get_config() == {"l1": 0.01, "l2": 0.01}
    assert isinstance(
        regularizers.get("orthogonal_regularizer"),
        regularizers.OrthogonalRegularizer,
    )
    assert isinstance(regularizers.get("group_lasso"), regularizers.GroupLasso)
    assert regularizers.get(None) is None
    reg = regularizers.L2(0.5)
    assert regularizers.get(reg) is reg
    assert isinstance(regularizers.get(regularizers.L1), regularizers.L1)
    short = {"class_name": "L2", "config": {"l2": 0.2}}
    assert regularizers.get(short).get_config() == {"l2": 0.2}
    assert regularizers.l2 is regularizers.L2


def test_a_plain_function_passes_through_like_keras():
    def fn(x):
        return keras.ops.sum(x)

    assert regularizers.get(fn) is fn


# One test per error message.


def test_unknown_name():
    with pytest.raises(
        ValueError, match=r"Unknown regularizer: 'typo'. Allowed names: "
        r"GroupLasso, L1, L1L2, L2, .*group_lasso, l1, l1_l2"
    ):
        regularizers.get("typo")


def test_uninterpretable_identifier():
    with pytest.raises(TypeError, match=r"Could not interpret regularizer "
                       r"identifier: expected a name, a config dict or a "
                       r"callable. Received: 3"):
        regularizers.get(3)


@pytest.mark.parametrize("value", [-0.1, -1])
def test_negative_factor(value):
    with pytest.raises(
        ValueError,
        match=rf"Invalid value for argument `l2` of L2: expected a float >= 0 "
        rf"or a Schedule that stays in that range. Received: l2={value}",
    ):
        regularizers.L2(value)


def test_nan_factor():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `l1` of L1: expected a finite float "
        r"or a Schedule. Received: l1=nan",
    ):
        regularizers.L1(float("nan"))


def test_wrong_type_factor():
    with pytest.raises(
        TypeError,
        match=r"Invalid type for argument `factor` of OrthogonalRegularizer: "
        r"expected a float.*Received: factor='0.1' of type str",
    ):
        regularizers.OrthogonalRegularizer("0.1")


def test_lambda_factor():
    with pytest.raises(
        TypeError, match=r"argument `l1` of L1L2: a bare function or lambda "
        r"cannot be a schedule"
    ):
        regularizers.L1L2(l1=lambda t: t)


def test_schedule_leaving_the_range_is_refused_up_front():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `l2` of L2: expected a float >= 0 "
        r"or a Schedule that stays in that range. Received: l2=Linear\(start="
        r"0.001, end=-0.001, duration=4, unit='epoch'\) \(gives -0.001 at "
        r"epoch 4\)",
    ):
        regularizers.L2(schedules.Linear(1e-3, -1e-3, 4))


def test_unknown_orthogonal_mode():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `mode` of OrthogonalRegularizer: "
        r"expected one of \{\"rows\", \"columns\"\}. Received: mode=diag",
    ):
        regularizers.OrthogonalRegularizer(mode="diag")


def test_orthogonal_needs_rank_2():
    with pytest.raises(
        ValueError,
        match=r"Inputs to OrthogonalRegularizer must have rank 2. Received: "
        r"inputs.shape=\(2, 2, 2\)",
    ):
        regularizers.OrthogonalRegularizer()(keras.ops.ones((2, 2, 2)))


def _bfloat16_matmul(monkeypatch):
    """Make every `ops.matmul` round its inputs to bfloat16, as TPUs (and
    GPUs, to TF32) do by default, and force the split path on every
    backend (CPUs ignore the backends' precision settings)."""
    from keras_regkit._compat import tensorflow as tf_compat

    plain = keras.ops.matmul

    def rounded(a, b):
        return plain(keras.ops.cast(keras.ops.cast(a, "bfloat16"), "float32"),
                     keras.ops.cast(keras.ops.cast(b, "bfloat16"), "float32"))

    monkeypatch.setattr(keras.ops, "matmul", rounded)
    monkeypatch.setattr(tf_compat, "tf32_may_round", lambda: True)
    monkeypatch.setattr(keras.backend, "backend", lambda: "reduced")


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_penalty_is_exact_whatever_the_matmul_precision(
        monkeypatch, mode):
    rng = np.random.default_rng(7)
    w = rng.normal(size=(24, 40)).astype("float32")
    unit = w / np.linalg.norm(w, axis=1 if mode == "rows" else 0,
                              keepdims=True)
    gram = (unit @ unit.T if mode == "rows" else unit.T @ unit).astype(
        "float64")
    size = len(gram)
    expected = 0.5 * np.abs(gram - np.diag(np.diag(gram))).sum() / (
        size * (size - 1) / 2)
    reg = regularizers.OrthogonalRegularizer(1.0, mode)
    _bfloat16_matmul(monkeypatch)
    got = float(keras.ops.convert_to_numpy(reg(keras.ops.convert_to_tensor(
        w))))
    assert got == pytest.approx(expected, rel=1e-5)
    # A plain product of bfloat16-rounded inputs is visibly off: this is
    # what the test guards against.
    rounded = keras.ops.convert_to_numpy(keras.ops.matmul(
        unit, unit.T) if mode == "rows" else keras.ops.matmul(unit.T, unit))
    assert np.abs(rounded - gram).max() > 1e-3


def test_exact_matmul_asks_jax_for_highest_precision():
    if keras.backend.backend() != "jax":
        pytest.skip("JAX states the precision per product")
    import jax

    from keras_regkit._matmul import exact_matmul

    a = np.ones((3, 4), "float32")
    text = str(jax.make_jaxpr(exact_matmul)(a, a.T))
    assert "HIGHEST" in text
