"""Multi-process training on JAX: processes started here, joined by
`keras.distribution.initialize` over gloo CPU collectives, train our
layers, regularizers and train-step components, with our callbacks, to
the weights and logs of one process; process 0 alone writes the backups,
and a run with one process killed resumes exactly
(`multiprocess_child.py` says what the model and callbacks are)."""

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


def _train(processes, out, devices=1, timeout=120, die=None):
    """Starts `processes` children with `devices` CPU devices each and
    returns what process 0 wrote. All are killed if one fails or time runs
    out (a stuck child prints its threads' stacks first, see the child). A
    run that times out is tried once more on a fresh port: the hangs we saw
    were Keras's asynchronous batch-end callbacks deadlocking with the
    collectives (the child now keeps them synchronous; 12 runs without a
    hang since), and one retry keeps a rare one from failing CI.

    With `die` (`"P:E"`), only `DataParallel` runs, process P exits as
    epoch E begins (see the child), the others are killed, and the return
    codes and outputs are returned; `die="-"` runs `DataParallel` alone."""
    for attempt in range(2):
        timed_out, children, outputs = _start(processes, out, devices,
                                              timeout, die)
        if not timed_out or attempt == 1:
            break
    if die not in (None, "-"):
        return [child.returncode for child in children], outputs
    for index, child in enumerate(children):
        assert child.returncode == 0, (
            f"process {index} of {processes} (returncode "
            f"{child.returncode}{', timed out' if timed_out else ''}):\n"
            f"{outputs[index][-3000:]}")
    with open(out) as f:
        return json.load(f)


def _start(processes, out, devices, timeout, die):
    env = {key: value for key, value in os.environ.items()
           if key != "XLA_FLAGS"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), env.get("PYTHONPATH", "")])
    port = str(_free_port())
    # Output to files: a pipe nobody reads while waiting could fill.
    logs = [open(pathlib.Path(out).with_name(f"process{process}.log"),
                 "w+") for process in range(processes)]
    children = [subprocess.Popen(
        [sys.executable, str(CHILD), str(process), str(processes), port,
         str(out), str(devices)] + ([die] if die else []), env=env,
        stdout=log, stderr=subprocess.STDOUT, text=True)
        for process, log in enumerate(logs)]
    deadline = time.monotonic() + timeout
    timed_out = False
    # Until all end: one that fails leaves the others waiting in a
    # collective, so they are killed then.
    while any(child.poll() is None for child in children):
        if any(child.poll() not in (None, 0) for child in children):
            break
        if time.monotonic() > deadline:
            timed_out = True
            break
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    return timed_out, children, outputs


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: the same training in one process, no distribution."""
    (weights, logs, _), = _train(
        1, tmp_path_factory.mktemp("one") / "one.json").values()
    return weights, logs


@pytest.mark.parametrize(("processes", "devices"), [(2, 2), (4, 1)],
                         ids=["2x2", "4x1"])
def test_processes_train_to_the_weights_of_one(processes, devices,
                                               one_process, tmp_path):
    """Worth its 15-30 s: 2 processes of 2 devices and 4 of 1, under
    DataParallel (each process feeds its slice of every batch) and a
    ModelParallel layout (kernels sharded over all devices), give one
    process's weights and logs: the random draws of our layers and MixUp,
    SAM's ascent, clipping's and AGC's norms, weight decay, a scheduled L2
    factor, early stopping's decision and restored weights, SWA's average
    and the monitor's norms (sharded kernels read with an all-gather)."""
    reference_weights, reference_logs = one_process
    results = _train(processes, tmp_path / "many.json", devices)
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
    # Process 0 alone wrote the backups (another would have exited, code
    # 3), and removed them at the end.
    assert not list((tmp_path / "backup-DataParallel").rglob("*"))


def test_one_process_killed_and_all_restarted_resume_exactly(one_process,
                                                             tmp_path):
    """Worth its 30-40 s (two runs of two processes): process 1 of 2 exits
    as epoch 3 begins (process 0 is killed waiting for it, or fails when
    gloo notices); both start again on the same folders, resume from the
    backup of epoch 2 (weights, seed states, EarlyStopping's and SWA's
    state) and end with one uninterrupted process's weights and logs."""
    codes, outputs = _train(2, tmp_path / "many.json", die="1:2")
    assert codes[1] == 17, outputs[1][-3000:]
    assert codes[0] != 0, outputs[0][-3000:]  # killed, or gloo failed
    assert (tmp_path / "backup-DataParallel").is_dir()
    (weights, logs, _), = _train(2, tmp_path / "many.json",
                                 die="-").values()
    reference_weights, reference_logs = one_process
    for got, expected in zip(weights, reference_weights, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    for key, value in reference_logs.items():
        if key != "epochs_run":
            assert logs[key] == pytest.approx(value, rel=1e-4), key
    # It resumed (a fresh start would end the same): epochs 1-2 were done.
    assert logs["epochs_run"] == reference_logs["epochs_run"] - 2
    assert not list((tmp_path / "backup-DataParallel").rglob("*"))
