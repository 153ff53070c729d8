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


def test_importing_the_package_is_enough_to_load_a_keras_file(tmp_path):
    """Before, Keras fell back to its own `L2` (`Invalid value for argument
    l2`) or could not locate our layers unless a subpackage was imported.
    Here Keras is imported after the package (the harder order)."""
    import keras

    from keras_regkit import layers
    from keras_regkit import regularizers
    from keras_regkit import schedules
    from keras_regkit import training

    inputs = keras.Input((8, 8, 1))
    x = layers.RandomRotation(0.1, seed=1)(inputs)
    x = keras.layers.Flatten()(x)
    x = layers.Dropout(schedules.Linear(0.0, 0.3, 10))(x)
    outputs = keras.layers.Dense(
        2, kernel_regularizer=regularizers.L2(schedules.Constant(1e-3)))(x)
    model = training.RegularizedModel(inputs, outputs, components=[
        training.SAM()])
    path = os.fspath(tmp_path / "model.keras")
    model.save(path)
    code = (
        "import keras_regkit, sys; assert 'keras' not in sys.modules;"
        "import keras; m = keras.saving.load_model(sys.argv[1]);"
        "print(type(m).__name__, [type(l).__name__ for l in m.layers][1:3],"
        " type(m.layers[-1].kernel_regularizer).__module__)")
    result = subprocess.run(
        [sys.executable, "-c", code, path], capture_output=True, text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"}, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [
        "RegularizedModel", "['RandomRotation',", "'Flatten']",
        "keras_regkit.regularizers.penalties"]


@pytest.mark.parametrize("first", [
    "import keras_regkit.layers", "from keras_regkit import callbacks",
    "from keras_regkit.training import SAM"])
def test_any_first_import_loads_keras_and_registers(first):
    """When our own module is what imports Keras, registering at once
    would re-enter it half-imported (a circular ImportError); it happens
    when the outermost subpackage ends instead."""
    code = (
        f"import sys; {first}; import keras;"
        "names = ['keras_regkit>L2', 'keras_regkit>RandomFlip',"
        " 'keras_regkit>SAM', 'keras_regkit>Linear'];"
        "print(all(keras.saving.get_registered_object(n) for n in names))")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"}, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True"]
