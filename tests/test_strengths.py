"""`strengths`: declarations, `Strength`, `Range`, `StrengthWriter`."""

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import regularizers
from keras_regkit import schedules
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import PROBABILITY
from keras_regkit.strengths import HasStrengths
from keras_regkit.strengths import Range
from keras_regkit.strengths import Scheduled
from keras_regkit.strengths import ScheduledRange
from keras_regkit.strengths import StrengthWriter
from keras_regkit.strengths import collect_strengths
from keras_regkit.strengths import declared_config
from keras_regkit.strengths import strengths_of
from tests.helpers import XLA


class Holder(HasStrengths):
    """A plain (non-layer) owner: its schedules get bare variables."""

    chance = Scheduled(PROBABILITY)
    limit = Scheduled(NON_NEGATIVE, optional=True)
    spread = ScheduledRange((-1.0, 1.0))
    tilt = ScheduledRange((0.0, 1.0), optional=True)

    def __init__(self, chance=0.5, limit=None, spread=0.2, tilt=None):
        self.chance = chance
        self.limit = limit
        self.spread = spread
        self.tilt = tilt


@keras.saving.register_keras_serializable(package="regkit_tests")
class ScaledLayer(HasStrengths, keras.layers.Layer):
    """A layer with one declared strength: multiplies by `scale`."""

    scale = Scheduled(NON_NEGATIVE)

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, x):
        return x * self.strength("scale").value

    def get_config(self):
        return {**super().get_config(), **self.declared_config()}


def test_plain_numbers_stay_floats_without_variables():
    holder = Holder(0.25, 3.0, 0.2)
    assert holder.chance == 0.25 and isinstance(holder.chance, float)
    assert holder.limit == 3.0
    assert holder.spread == (-0.2, 0.2)
    assert holder.tilt is None
    assert all(s.variable is None for s in strengths_of(holder).values())
    assert declared_config(holder) == {"chance": 0.25, "limit": 3.0,
                                       "spread": 0.2, "tilt": None}


def test_schedules_get_variables_and_serialize_as_given():
    schedule = schedules.Linear(0.0, 0.5, duration=4)
    holder = Holder(schedule, spread=(schedule, 0.5))
    assert isinstance(holder.chance, keras.Variable)
    assert float(holder.chance) == 0.0
    low, high = holder.spread
    assert float(low) == 0.0 and high == 0.5
    config = declared_config(holder)
    assert schedules.deserialize(config["chance"]) == schedule
    assert schedules.deserialize(config["spread"][0]) == schedule
    assert config["spread"][1] == 0.5
    # A round trip through the config gives the same declarations.
    again = Holder(**{k: v for k, v in config.items()})
    assert declared_config(again) == config


def test_a_declared_strength_is_set_once():
    holder = Holder()
    with pytest.raises(AttributeError, match="set once in the constructor"):
        holder.chance = 0.1
    with pytest.raises(AttributeError, match="not set yet"):
        _ = Holder.__new__(Holder).chance


def test_declarations_check_values_with_the_house_sentence():
    with pytest.raises(ValueError, match=r"Invalid value for argument "
                       r"`chance` of Holder: expected a float in \[0, 1\]"):
        Holder(chance=1.5)
    with pytest.raises(ValueError, match="Invalid value for argument "
                       "`spread` of Holder"):
        Holder(spread=(0.1, 2.0))
    with pytest.raises(ValueError, match="`tilt` of Holder"):
        Holder(tilt=-0.5)
    with pytest.raises(ValueError, match="`limit` of Holder"):
        Holder(limit=schedules.Linear(1.0, -1.0, 2))


def test_range_normalizes_like_keras():
    holder = Holder()
    spread = Range(holder, "other", -0.3)
    assert (spread.low, spread.high) == (-0.3, 0.3)
    assert (Range(holder, "p", (0.4, -0.1)).low,
            Range(holder, "p2", (0.4, -0.1)).high) == (-0.1, 0.4)
    one_sided = Range(holder, "q", 0.5, (0.0, 1.0))
    assert (one_sided.low, one_sided.high) == (0.0, 0.5)
    samples = keras.ops.convert_to_numpy(
        spread.sample(keras.ops.convert_to_tensor([0.0, 0.5, 1.0])))
    np.testing.assert_allclose(samples, [-0.3, 0.0, 0.3], atol=1e-7)


def test_layer_declarations_are_weights_and_save(tmp_path):
    schedule = schedules.Linear(1.0, 3.0, duration=2)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, ScaledLayer(schedule, name="scaled")(inputs))
    layer = model.get_layer("scaled")
    assert [w.path for w in layer.non_trainable_weights] == ["scaled/scale"]
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert strengths_of(loaded.get_layer("scaled"))["scale"].schedule == (
        schedule)


def test_refresh_reads_the_variable_so_restored_values_are_seen():
    strength = strengths_of(layers.Dropout(
        schedules.Linear(0.0, 0.5, duration=2)))["rate"]
    assert strength.assign(strength.value_at(1)) is True
    strength.refresh()
    assert strength.current == 0.25  # exactly what was computed
    strength.variable.assign(0.125)  # e.g. restore_best_weights
    strength.refresh()
    assert strength.current == 0.125
    # The next scheduled write is not skipped as "unchanged".
    assert strength.assign(strength.value_at(1)) is True
    assert strength.current == 0.25


def test_value_at_checks_bounds_on_the_host():
    strength = strengths_of(layers.Dropout(
        schedules.Constant(0.4)))["rate"]
    with pytest.raises(ValueError, match="Scheduled value out of range for "
                       "argument `rate` of Dropout"):
        strength.value_at(0, multiplier=3.0)


def test_plain_strength_cannot_change():
    strength = strengths_of(layers.Dropout(0.3))["rate"]
    assert strength.assign(0.3) is False
    with pytest.raises(ValueError, match="given as a plain number"):
        strength.assign(0.4)


def _writer_model(rate):
    inputs = keras.Input((4,))
    outputs = layers.Dropout(rate, name="drop")(inputs)
    return keras.Model(inputs, outputs)


def test_writer_follows_schedules_and_reports_changes():
    model = _writer_model(schedules.Linear(0.0, 0.4, duration=4))
    writer = StrengthWriter(model)
    assert list(writer.strengths) == ["drop/rate"]
    assert writer.schedule("epoch", 2) == [("drop/rate", 0.2)]
    assert writer.schedule("epoch", 2) == []
    assert writer.schedule("step", 3) == []  # another unit


def test_controller_adjustment_composes_with_the_schedule():
    model = _writer_model(schedules.Linear(0.1, 0.3, duration=2))
    writer = StrengthWriter(model)
    strength = writer.strengths["drop/rate"]
    writer.schedule("epoch", 0)
    assert writer.adjust(strength, 0.2) is True  # twice the schedule
    assert writer.schedule("epoch", 1) == [("drop/rate", 0.4)]
    assert strength.current == pytest.approx(0.4)


def test_controller_value_survives_a_schedule_at_zero():
    # The bug: a multiple of 0 is 0, so the scheduler used to undo the
    # controller whenever the schedule's value was 0.
    model = _writer_model(schedules.Piecewise([3], [0.0, 0.2]))
    writer = StrengthWriter(model)
    strength = writer.strengths["drop/rate"]
    writer.schedule("epoch", 0)
    writer.adjust(strength, 0.05)
    assert writer.schedule("epoch", 1) == []
    assert strength.current == 0.05
    # Once the schedule is positive it takes over again.
    assert writer.schedule("epoch", 3) == [("drop/rate", 0.2)]


def test_collect_strengths_names_layers_and_regularizers_once():
    shared = regularizers.L2(schedules.Constant(1e-3))
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, kernel_regularizer=shared, name="a")(inputs)
    x = keras.layers.Dense(3, kernel_regularizer=shared, name="b")(x)
    x = layers.RandomErasing(schedules.Constant(0.5), name="erase")(
        keras.layers.Reshape((1, 3, 1))(x))
    inner = keras.Model(inputs, x, name="inner")
    outer_in = keras.Input((4,))
    outer = keras.Model(outer_in, layers.Dropout(
        schedules.Constant(0.1), name="drop")(inner(outer_in)))
    found = collect_strengths(outer)
    assert sorted(found) == ["a/kernel_regularizer/l2", "drop/rate",
                             "erase/factor"]


@pytest.mark.backends
@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_any_writer_reaches_the_compiled_step_on_every_backend(kind):
    # GapController alone (no StrengthScheduler) raising a regularizer's
    # factor: on JAX the factor must join the step's state, or the step
    # would keep reading the value it was traced with (a Sequential model's
    # tracker does not reach its layer list: the holder hangs elsewhere).
    reg = regularizers.L2(schedules.Constant(1e-3))
    dense = keras.layers.Dense(1, kernel_regularizer=reg,
                               kernel_initializer="ones")
    if kind == "sequential":
        model = keras.Sequential([keras.Input((4,)), dense])
    else:
        inputs = keras.Input((4,))
        model = keras.Model(inputs, dense(inputs))
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=XLA)
    x = np.ones((8, 4), "float32")
    controller = callbacks.GapController(["*"], target=-10.0, tolerance=0.0,
                                         factor=2.0, max_value=1.0,
                                         start_from_epoch=0)
    history = model.fit(x, np.zeros((8, 1)), epochs=3, verbose=0,
                        validation_data=(x, np.zeros((8, 1))),
                        callbacks=[controller])
    # mse is 16 (weights fixed at 1); the penalty is l2 * 4.
    np.testing.assert_allclose(history.history["loss"],
                               [16 + 4e-3, 16 + 8e-3, 16 + 16e-3], rtol=1e-5)
