"""Schedules: values point by point, boundaries, serialization, errors.

Schedules are host-side Python (floats in, floats out), so these tests run
on one backend; the two that evaluate tensors (a wrapped Keras schedule, a
schedule's tensor form) are marked `backends` and run on all three.
"""

import json
import math

import keras
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_regkit import schedules

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(1e-3, 1e4, allow_nan=False, allow_infinity=False)
times = st.floats(0, 1e9, allow_nan=False, allow_infinity=False) | st.integers(
    0, 10**9
)


def _schedule_strategy():
    constant = st.builds(schedules.Constant, finite)
    linear = st.builds(schedules.Linear, finite, finite, positive)
    cosine = st.builds(schedules.Cosine, finite, finite, positive)
    decay = st.builds(
        schedules.Exponential,
        finite,
        st.floats(1e-3, 1.0),
        positive,
        st.none(),
        st.booleans(),
    )
    growth = st.tuples(finite, st.floats(1.0, 10.0), positive, positive).map(
        lambda a: schedules.Exponential(
            a[0], a[1], period=a[2], end=a[0] + math.copysign(a[3], a[0])
        )
    )
    piecewise = st.integers(1, 5).flatmap(
        lambda n: st.builds(
            schedules.Piecewise,
            st.lists(positive, min_size=n, max_size=n, unique=True).map(sorted),
            st.lists(finite, min_size=n + 1, max_size=n + 1),
        )
    )
    inverse = st.builds(schedules.InverseDecay, finite,
                        st.floats(0.0, 5.0))
    leaves = (constant | linear | cosine | decay | growth | piecewise
              | inverse)
    return leaves | st.builds(
        lambda a, b, boundary: schedules.Join([a, b], [boundary]),
        leaves,
        leaves,
        positive,
    )


@settings(max_examples=300, deadline=None)
@given(_schedule_strategy(), times)
def test_every_schedule_is_defined_and_finite_for_all_t(schedule, t):
    value = schedule(t)
    assert isinstance(value, float)
    assert math.isfinite(value)


@settings(max_examples=200, deadline=None)
@given(finite, finite, positive)
def test_interpolations_hit_their_boundaries_exactly(start, end, duration):
    for cls in (schedules.Linear, schedules.Cosine):
        s = cls(start, end, duration)
        assert s(0) == start
        assert s(duration) == end
        assert s(duration * 3 + 1) == end
        low, high = min(start, end), max(start, end)
        mid = s(duration / 2)
        assert low - 1e-9 * abs(low) - 1e-12 <= mid
        assert mid <= high + 1e-9 * abs(high) + 1e-12


@settings(max_examples=200, deadline=None)
@given(
    st.lists(positive, min_size=1, max_size=6, unique=True).map(sorted),
    st.data(),
)
def test_piecewise_switches_exactly_at_boundaries(boundaries, data):
    values = data.draw(
        st.lists(finite, min_size=len(boundaries) + 1,
                 max_size=len(boundaries) + 1)
    )
    s = schedules.Piecewise(boundaries, values)
    assert s(0) == values[0]
    for i, b in enumerate(boundaries):
        assert s(b) == values[i + 1]
        assert s(math.nextafter(b, 0)) == values[i]


@settings(max_examples=200, deadline=None)
@given(finite, finite, positive, finite, positive)
def test_join_restarts_time_at_each_boundary(a, b, duration, c, boundary):
    first = schedules.Linear(a, b, duration)
    second = schedules.Constant(c)
    s = schedules.Join([first, second], [boundary])
    assert s(0) == a
    assert s(boundary) == c
    assert s(math.nextafter(boundary, 0)) == first(math.nextafter(boundary, 0))


def test_points():
    assert schedules.Linear(0.0, 1.0, 4)(1) == 0.25
    assert schedules.Cosine(1.0, 0.0, 2)(1) == pytest.approx(0.5)
    assert schedules.Exponential(1.0, 0.5)(3) == 0.125
    assert schedules.Exponential(1.0, 0.5, period=2, staircase=True)(3) == 0.5
    assert schedules.Exponential(1.0, 0.5, end=0.3)(5) == 0.3
    assert schedules.Exponential(1.0, 2.0, end=5.0)(10) == 5.0
    assert schedules.Exponential(1.0, 2.0, end=5.0)(1) == 2.0
    join = schedules.Join(
        [schedules.Linear(0.0, 1.0, 2), schedules.Cosine(1.0, 0.0, 2)], [2]
    )
    assert [join(t) for t in (0, 1, 2, 3, 4, 9)] == pytest.approx(
        [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    )


@pytest.mark.backends
def test_step_unit_and_keras_schedule():
    s = schedules.Linear(0.0, 1.0, 10, unit="step")
    assert s.unit == "step"
    decay = keras.optimizers.schedules.CosineDecay(1.0, decay_steps=10)
    wrapped = schedules.get(decay)
    assert isinstance(wrapped, schedules.KerasSchedule)
    assert wrapped.unit == "step"
    assert wrapped(0) == pytest.approx(1.0)
    assert wrapped(10) == pytest.approx(0.0, abs=1e-6)


ALL = [
    schedules.Constant(0.3),
    schedules.Linear(0.0, 1.0, 3, unit="step"),
    schedules.Cosine(1.0, 0.1, 7),
    schedules.Exponential(2.0, 0.9, period=3, end=0.5, staircase=True),
    schedules.Piecewise([1, 4], [0.0, 0.5, 1.0]),
    schedules.Join([schedules.Linear(0.0, 1.0, 2), 0.5], [2]),
    schedules.InverseDecay(0.1, power=0.55),
    schedules.KerasSchedule(
        keras.optimizers.schedules.ExponentialDecay(1.0, 10, 0.5)
    ),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_serialization_round_trip(schedule):
    config = schedule.get_config()
    json.dumps(config)
    assert type(schedule).from_config(config) == schedule
    serialized = schedules.serialize(schedule)
    revived = schedules.deserialize(json.loads(json.dumps(serialized)))
    assert revived == schedule
    assert schedules.get(serialized) == schedule
    for t in (0, 1, 2.5, 10, 1000):
        assert revived(t) == schedule(t)


def test_get_accepts_floats_schedules_and_short_configs():
    assert schedules.get(0.5) == schedules.Constant(0.5)
    assert schedules.get(2) == schedules.Constant(2.0)
    s = schedules.Linear(0.0, 1.0, 3)
    assert schedules.get(s) is s
    short = {"class_name": "Linear", "config": {"start": 0, "end": 1,
                                                "duration": 3}}
    assert schedules.get(short) == s


# One test per error message.


def test_lambda_is_refused_with_the_reason():
    with pytest.raises(
        TypeError,
        match=r"a bare function or lambda cannot be a schedule, because it "
        r"cannot be saved with the model. Subclass "
        r"`keras_regkit.schedules.Schedule`",
    ):
        schedules.get(lambda t: 0.1 * t)


def test_wrong_type_is_refused():
    with pytest.raises(
        TypeError,
        match=r"argument `schedule` of schedules.get: expected a float, a "
        r"keras_regkit Schedule.*Received: schedule='0.1' of type str",
    ):
        schedules.get("0.1")


def test_bool_is_refused():
    with pytest.raises(TypeError,
                       match=r"Received: schedule=True of type bool"):
        schedules.get(True)


def test_nan_is_refused():
    with pytest.raises(
        ValueError,
        match=r"argument `schedule` of schedules.get: expected a finite float "
        r"or a Schedule. Received: schedule=nan",
    ):
        schedules.get(float("nan"))


def test_dict_that_is_not_a_schedule_is_refused():
    with pytest.raises(TypeError, match=r"the config does not describe a "
                       r"schedule"):
        schedules.get(keras.saving.serialize_keras_object(
            keras.regularizers.L2(0.1)))


def test_unknown_unit():
    with pytest.raises(
        ValueError,
        match=r"argument `unit` of Linear: expected one of \"epoch\", "
        r"\"step\". Received: unit='batch'",
    ):
        schedules.Linear(0.0, 1.0, 3, unit="batch")


@pytest.mark.parametrize("duration", [0, -1, float("inf"), float("nan")])
def test_bad_duration(duration):
    with pytest.raises(
        ValueError,
        match=r"argument `duration` of Cosine: expected a finite number > 0. "
        r"Received: duration=",
    ):
        schedules.Cosine(0.0, 1.0, duration)


def test_non_numeric_start():
    with pytest.raises(
        TypeError,
        match=r"argument `start` of Linear: expected a finite float. "
        r"Received: start='0' of type str",
    ):
        schedules.Linear("0", 1.0, 3)


def test_infinite_constant():
    with pytest.raises(
        ValueError,
        match=r"argument `value` of Constant: expected a finite float. "
        r"Received: value=inf",
    ):
        schedules.Constant(float("inf"))


def test_exponential_rate_must_be_positive():
    with pytest.raises(
        ValueError, match=r"argument `rate` of Exponential: expected a float "
        r"> 0. Received: rate=0.0"
    ):
        schedules.Exponential(1.0, 0.0)


def test_exponential_growth_needs_an_end():
    with pytest.raises(
        ValueError, match=r"argument `end` of Exponential: expected a float "
        r"bound when rate > 1"
    ):
        schedules.Exponential(1.0, 1.5)


def test_exponential_end_must_lie_ahead():
    with pytest.raises(
        ValueError,
        match=r"argument `end` of Exponential: expected a bound the "
        r"value moves toward \(end <= start=1.0 for rate=0.5\). Received: "
        r"end=2.0"
    ):
        schedules.Exponential(1.0, 0.5, end=2.0)


def test_exponential_staircase_must_be_bool():
    with pytest.raises(
        ValueError, match=r"argument `staircase` of Exponential: expected a "
        r"bool. Received: staircase=1"
    ):
        schedules.Exponential(1.0, 0.5, staircase=1)


def test_piecewise_boundaries_must_increase():
    with pytest.raises(
        ValueError,
        match=r"argument `boundaries` of Piecewise: expected strictly "
        r"increasing numbers. Received: boundaries=\[3, 2\]",
    ):
        schedules.Piecewise([3, 2], [0.0, 1.0, 2.0])


def test_piecewise_empty_boundaries():
    with pytest.raises(
        ValueError, match=r"argument `boundaries` of Piecewise: expected a "
        r"non-empty list of numbers. Received: boundaries=\[\]"
    ):
        schedules.Piecewise([], [1.0])


def test_piecewise_values_count():
    with pytest.raises(
        ValueError,
        match=r"argument `values` of Piecewise: expected a list of 3 floats "
        r"\(one more than `boundaries`\)",
    ):
        schedules.Piecewise([1, 2], [0.0, 1.0])


def test_join_needs_two_schedules():
    with pytest.raises(
        ValueError, match=r"argument `schedules` of Join: expected a list of "
        r"at least 2 schedules"
    ):
        schedules.Join([schedules.Constant(1.0)], [])


def test_join_count_matches_boundaries():
    with pytest.raises(
        ValueError, match=r"argument `schedules` of Join: expected 3 "
        r"schedules \(one more than `boundaries`\)"
    ):
        schedules.Join([0.0, 1.0], [1, 2])


def test_join_units_must_agree():
    with pytest.raises(
        ValueError, match=r"argument `schedules` of Join: expected schedules "
        r"that share one unit. Received: schedules=\['epoch', 'step'\]"
    ):
        schedules.Join(
            [schedules.Linear(0, 1, 2), schedules.Linear(1, 0, 5, unit="step")],
            [2],
        )


def test_keras_schedule_needs_a_keras_schedule():
    with pytest.raises(
        TypeError, match=r"argument `schedule` of KerasSchedule: expected a "
        r"keras.optimizers.schedules.LearningRateSchedule"
    ):
        schedules.KerasSchedule(0.1)


def test_keras_schedule_is_step_unit():
    decay = keras.optimizers.schedules.ExponentialDecay(1.0, 10, 0.5)
    with pytest.raises(
        ValueError, match=r"argument `unit` of KerasSchedule: expected \"step\""
    ):
        schedules.KerasSchedule(decay, unit="epoch")


def test_negative_time():
    with pytest.raises(
        ValueError, match=r"Linear is defined for finite t >= 0. Received: t=-1"
    ):
        schedules.Linear(0.0, 1.0, 3)(-1)


def test_non_numeric_time():
    with pytest.raises(TypeError, match=r"Constant expects a time t >= 0 as a "
                       r"number. Received: t='1'"):
        schedules.Constant(1.0)("1")


@pytest.mark.backends
def test_inverse_decay_points_and_tensor_form():
    decay = schedules.InverseDecay(0.5, power=0.55, unit="step")
    assert decay.unit == "step"
    assert decay(0) == 0.5
    assert decay(9) == pytest.approx(0.5 / 10**0.55)
    steps = keras.ops.convert_to_tensor([0.0, 1.0, 9.0, 1e6])
    values = keras.ops.convert_to_numpy(decay.tensor_value(steps))
    assert values == pytest.approx([decay(t) for t in (0, 1, 9, 1e6)],
                                   rel=1e-6)
    assert schedules.InverseDecay(0.5, power=0.0).is_constant
    assert not decay.is_constant


def test_inverse_decay_power_must_be_non_negative():
    with pytest.raises(ValueError, match=r"Invalid value for argument "
                       r"`power` of InverseDecay: expected a float >= 0\. "
                       r"Received: power=-1"):
        schedules.InverseDecay(1.0, power=-1)
