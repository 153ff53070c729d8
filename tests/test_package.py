"""Package-level promises: light import, no TensorFlow under other backends."""

import os
import subprocess
import sys

import pytest

import keras_regkit

pytestmark = pytest.mark.backends


def test_version():
    assert keras_regkit.__version__.count(".") == 2


def test_import_does_not_pull_tensorflow_or_heavy_extras_under_jax():
    # Keras itself may import rich, matplotlib or scikit-learn when they are
    # installed; what we check is what `import keras_regkit` adds.
    code = (
        "import sys, keras; before = set(sys.modules); import keras_regkit;"
        "added = {m.split('.')[0] for m in set(sys.modules) - before};"
        "heavy = {'tensorflow', 'matplotlib', 'rich', 'sklearn',"
        " 'tensorflow_datasets', 'keras_tuner', 'yaml'} & added;"
        "heavy |= {'tensorflow'} & set(sys.modules);"
        "print(','.join(sorted(heavy)))"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True,
        check=True,
    )
    assert out.stdout.strip() == ""
