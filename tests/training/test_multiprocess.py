"""Multi-process training on JAX: processes started here, joined by
`keras.distribution.initialize` over gloo CPU collectives, train our
layers, regularizers and train-step components, with our device-state
callbacks, to the weights and logs of one process (`multiprocess_child.py`
says what the model and callbacks are)."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

pytestmark = [
    pytest.mark.backends, pytest.mark.slow,
    pytest.mark.skipif(keras.backend.backend() != "jax",
                       reason="multi-process training through "
                       "keras.distribution is JAX's"),
]

CHILD = pathlib.Path(__file__).with_name("multiprocess_child.py")
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _train(processes, out, timeout=240):
    """Starts `processes` children (all killed if one fails or time runs
    out); returns what process 0 wrote."""
    env = {key: value for key, value in os.environ.items()
           if key != "XLA_FLAGS"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), env.get("PYTHONPATH", "")])
    port = str(_free_port())
    children = [subprocess.Popen(
        [sys.executable, str(CHILD), str(process), str(processes), port,
         str(out)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
        for process in range(processes)]
    deadline = time.monotonic() + timeout
    try:
        for child in children:
            output, _ = child.communicate(
                timeout=max(1.0, deadline - time.monotonic()))
            assert child.returncode == 0, output[-3000:]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    with open(out) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: the same training in one process, no distribution."""
    (weights, logs, _), = _train(
        1, tmp_path_factory.mktemp("one") / "one.json").values()
    return weights, logs


@pytest.mark.parametrize("processes", [2, 4])
def test_processes_train_to_the_weights_of_one(processes, one_process,
                                               tmp_path):
    """Worth its 15-30 s: DataParallel (each process feeds its slice of
    every batch) and a ModelParallel layout (kernels sharded over the
    processes) give one process's weights and logs: the random draws of
    our layers and MixUp, SAM's ascent, clipping's and AGC's norms, weight
    decay, a scheduled L2 factor, early stopping's decision and restored
    weights, SWA's average and the monitor's norms (sharded kernels read
    with an all-gather)."""
    reference_weights, reference_logs = one_process
    results = _train(processes, tmp_path / "many.json")
    assert sorted(results) == ["DataParallel", "ModelParallel"]
    for name, (weights, logs, _) in results.items():
        assert len(weights) == len(reference_weights)
        for got, expected in zip(weights, reference_weights, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6,
                                       err_msg=name)
        assert set(logs) == set(reference_logs)
        for key, value in reference_logs.items():
            assert logs[key] == pytest.approx(value, rel=1e-4), (name, key)
    # The reference exercised what must agree: the schedule moved, early
    # stopping stopped before the last epoch, SWA averaged.
    assert reference_logs["regkit/hidden/kernel_regularizer/l2"] == (
        pytest.approx(0.01))
    assert reference_logs["epochs_run"] < 6
    assert reference_logs["swa/models"] >= 2
