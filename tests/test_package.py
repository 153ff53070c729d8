"""Package-level promises: light import, no TensorFlow under other backends,
and the supported Keras range checked at import.

Backend-independent (the import test starts its own JAX process), so these
run on one backend.
"""

import os
import subprocess
import sys

import pytest

import keras_regkit


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


def test_setup_cfg_claims_the_keras_range_checked_at_import():
    import configparser
    import pathlib

    from keras_regkit import _versions

    config = configparser.ConfigParser()
    config.read(pathlib.Path(__file__).parents[1] / "setup.cfg")
    requires = config["options"]["install_requires"].split("\n")
    assert _versions.KERAS_REQUIREMENT in [r.strip() for r in requires]
    # The Keras this suite runs with is inside the range it claims.
    _versions.check_keras()


@pytest.mark.parametrize("version", ["3.14.2", "3.16.0", "4.0.0", "nightly"])
def test_an_unsupported_keras_fails_at_import_with_one_line(version,
                                                            monkeypatch):
    import importlib
    import importlib.metadata

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: (
        version if name == "keras" else real(name)))
    with pytest.raises(ImportError) as error:
        importlib.reload(keras_regkit)
    message = str(error.value)
    assert message == (
        f"keras_regkit supports keras>=3.15,<3.16 (the releases it is tested "
        f"with); found keras {version}. "
        f'Run: pip install "keras>=3.15,<3.16"')
    monkeypatch.undo()
    importlib.reload(keras_regkit)
