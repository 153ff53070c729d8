"""The README's promises hold: its Python example runs, CI runs its tests."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


@pytest.mark.slow
def test_python_examples_run(tmp_path):
    """Worth its 20-40 s: the README's examples are the first code users
    copy; they compile several models in a fresh TensorFlow process."""
    # The README's Python blocks build on each other; run them in order.
    blocks = _blocks("python")
    assert "StrengthScheduler" in blocks[0]
    example = "\n".join(blocks)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", example], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    printed = result.stdout.strip().splitlines()[0]
    values = [float(v) for v in printed.strip("[]").split(",")]
    assert values == pytest.approx([0.0, 1e-3 / 3, 2e-3 / 3, 1e-3, 1e-3])


def test_ci_runs_the_readme_test_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    one_liner = next(
        line for block in _blocks("bash") for line in block.splitlines()
        if "pytest" in line and "venv" in line
    )
    commands = [c.strip() for c in one_liner.split("&&") if "pytest" in c]
    assert commands == [
        "python -m pytest -n 2",
        "KERAS_BACKEND=jax python -m pytest -n 2 -m backends",
        "KERAS_BACKEND=torch python -m pytest -n 2 -m backends",
    ]
    assert "run_pytest python -m pytest -n 2\n" in ci
    for backend in ("jax", "torch"):
        assert (f"run_pytest env KERAS_BACKEND={backend} python -m pytest "
                "-n 2 -m backends") in ci
    # Lint before the tests, with the command the README gives.
    lint = next(line.split("#")[0].strip() for block in _blocks("bash")
                for line in block.splitlines() if line.startswith("ruff"))
    assert ci.index(f"\n{lint}\n") < ci.index("run_pytest python")
    # The JAX pass runs on the second Python setup.cfg claims.
    jax_pass = ci.index("run_pytest env KERAS_BACKEND=jax")
    assert ci.rindex(". .venv312/bin/activate", 0, jax_pass) > ci.rindex(
        "deactivate", 0, jax_pass)


def test_quick_start_command_runs_the_lab():
    lines = [
        line for block in _blocks("bash") for line in block.splitlines()
        if line.startswith("python3 -m venv")
    ]
    assert any(line.endswith('pip install -e ".[lab]" && keras-regkit lab')
               for line in lines)
