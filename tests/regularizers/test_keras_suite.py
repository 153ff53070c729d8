"""Keras's own regularizer unit tests, run against keras_regkit's classes.

Keras ships its test modules in the wheel; we import its `RegularizersTest`
and point the module's `regularizers` name at ours, so every assertion Keras
makes about `L1`, `L2`, `L1L2`, `OrthogonalRegularizer` and `get` is checked
against our drop-ins.
"""

import pytest

keras_tests = pytest.importorskip("keras.src.regularizers.regularizers_test")

from keras_regkit import regularizers  # noqa: E402

pytestmark = pytest.mark.backends


class TestKerasRegularizersSuite(keras_tests.RegularizersTest):
    @pytest.fixture(autouse=True)
    def _use_keras_regkit(self, monkeypatch):
        monkeypatch.setattr(keras_tests, "regularizers", regularizers)

    def test_orthogonal_regularizer_mode_validation(self):
        # Keras compares its exact sentence; ours uses the house wording,
        # which names the class too. Same type, argument and received value.
        with pytest.raises(ValueError) as info:
            regularizers.OrthogonalRegularizer(factor=0.01, mode="invalid_mode")
        message = str(info.value)
        assert message.startswith("Invalid value for argument `mode`")
        assert message.endswith("Received: mode=invalid_mode")
