"""Test setup: quiet TensorFlow, seeded runs, backend-aware markers.

The suite runs three times in CI: once on the TensorFlow backend
(everything), then the backend-agnostic tests (marked `backends`) with
`KERAS_BACKEND=jax` and with `KERAS_BACKEND=torch`. Tests marked `tf` need
the TensorFlow backend and are skipped on the other runs. Tests marked `gpu`
run only where the backend sees a GPU (`tools/gpu_check.sh`).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402


def _backend_sees_a_gpu():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def pytest_collection_modifyitems(config, items):
    backend = keras.backend.backend()
    skip_tf = pytest.mark.skip(reason=f"needs TensorFlow backend ({backend=})")
    for item in items:
        if "tf" in item.keywords and backend != "tensorflow":
            item.add_marker(skip_tf)
    if any("gpu" in item.keywords for item in items) and not (
            _backend_sees_a_gpu()):
        skip_gpu = pytest.mark.skip(reason=f"needs a GPU ({backend=})")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield
    # Keras's state (layer names, TensorFlow's graph and kernel cache) is
    # reset after every test; Python's garbage collector runs on its own
    # schedule: a full collection after each test (Keras's default) cost
    # 0.3-0.4 s a test with TensorFlow loaded, a quarter of the suite.
    keras.backend.clear_session(free_memory=False)
