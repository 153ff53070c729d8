"""`_checks`: the one error sentence and each check."""

import numpy as np
import pytest

from keras_regkit import _checks as checks


def test_the_sentence_for_values_and_types():
    error = checks.invalid("Owner", "arg", 1.5, "a float in [0, 1)")
    assert isinstance(error, ValueError)
    assert str(error) == ("Invalid value for argument `arg` of Owner: "
                          "expected a float in [0, 1). Received: arg=1.5")
    error = checks.invalid("Owner", "arg", "x", "a bool", error=TypeError)
    assert isinstance(error, TypeError)
    assert str(error) == ("Invalid type for argument `arg` of Owner: "
                          "expected a bool. Received: arg='x'")
    assert str(checks.invalid("O", "mode", "x", "y", show=str)).endswith(
        "mode=x")


def test_is_number_refuses_bools():
    assert checks.is_number(1) and checks.is_number(np.float32(0.5))
    assert not checks.is_number(True) and not checks.is_number("1")


def test_real():
    assert checks.real("O", "a", 2) == 2.0
    with pytest.raises(TypeError, match="Received: a=True of type bool"):
        checks.real("O", "a", True)
    with pytest.raises(ValueError, match="expected a finite float"):
        checks.real("O", "a", float("inf"))


def test_number_with_a_condition():
    assert checks.number("O", "a", 3, lambda v: v > 1, "a float > 1") == 3.0
    for bad in (1, True, float("nan"), "2"):
        with pytest.raises(ValueError, match="expected a float > 1"):
            checks.number("O", "a", bad, lambda v: v > 1, "a float > 1")


def test_integer():
    assert checks.integer("O", "n", 3, 1) == 3
    assert checks.integer("O", "n", np.int64(3), 1) == 3
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="expected an int >= 1"):
            checks.integer("O", "n", bad, 1)


def test_boolean_choice_verbose():
    assert checks.boolean("O", "b", False) is False
    with pytest.raises(TypeError, match="expected a bool. Received: b=1"):
        checks.boolean("O", "b", 1)
    assert checks.choice("O", "m", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"expected one of \('a', 'b'\)"):
        checks.choice("O", "m", "c", ("a", "b"))
    with pytest.raises(ValueError, match="expected 0 or 1. Received: "
                       "verbose=2"):
        checks.verbose("O", 2)


def test_pairs_and_value_ranges():
    assert checks.pair("O", "p", (1, 2), lambda a, b: a <= b, "x") == (
        1.0, 2.0)
    for bad in ((2, 1), (1,), (1, "2"), 3):
        with pytest.raises(ValueError, match="expected x"):
            checks.pair("O", "p", bad, lambda a, b: a <= b, "x")
    assert checks.value_range("O", [0, 255]) == (0, 255)
    with pytest.raises(ValueError, match="low < high"):
        checks.value_range("O", (1, 1))


def test_patterns_seed_and_data_format():
    assert checks.patterns("O", "p", ("a*",), "patterns") == ["a*"]
    with pytest.raises(ValueError, match="expected patterns"):
        checks.patterns("O", "p", "a*", "patterns")
    assert checks.patterns("O", "p", [], "x", allow_empty=True) == []
    with pytest.raises(TypeError, match="Invalid type for argument `p`"):
        checks.patterns("O", "p", [1], "x", error=TypeError)
    assert checks.seed("O", None) is None
    with pytest.raises(TypeError, match="expected an int or None"):
        checks.seed("O", 1.0)
    assert checks.data_format("O", "channels_first") == "channels_first"
    with pytest.raises(ValueError, match='expected "channels_last" or '
                       '"channels_first"'):
        checks.data_format("O", "nhwc")


def test_optional_positive():
    assert checks.optional_positive("O", "x", None) is None
    with pytest.raises(ValueError, match="a float > 0, a Schedule or None"):
        checks.optional_positive("O", "x", 0)
