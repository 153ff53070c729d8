"""Release-ready packaging: the wheel and sdist build, their metadata pass
`twine check`, and the wheel installs into a clean venv and runs; the
notebooks' install cells and badges follow the repository URL in
`setup.cfg`."""

import configparser
import json
import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(*command, stderr_too=False, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True,
                            timeout=600, check=False, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr if stderr_too else result.stdout


@pytest.mark.slow
def test_wheel_and_sdist_build_check_and_install_into_a_clean_venv(tmp_path):
    dist = tmp_path / "dist"
    # --no-isolation: build with the setuptools already installed (no
    # download needed).
    built = _run(sys.executable, "-m", "build", "--no-isolation", "--outdir",
                 str(dist), str(ROOT), stderr_too=True)
    # The recipes ship as package data of keras_regkit.lab, and setuptools
    # has nothing ambiguous to warn about.
    assert "absent from the `packages` configuration" not in built
    wheels = list(dist.glob("*.whl"))
    sdists = list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    _run(sys.executable, "-m", "twine", "check", "--strict", *map(str, [
        *wheels, *sdists]))
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
    assert "keras_regkit/lab/recipes/baseline.json" in names
    assert any(n.endswith(("licenses/LICENSE", "/LICENSE")) for n in names)
    assert not any(n.startswith("tests/") for n in names)
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    python = venv / "bin" / "python"
    # No dependencies: the package itself must import and its command
    # answer without Keras (everything heavy loads on first use).
    _run(str(python), "-m", "pip", "install", "--no-deps", "--no-index",
         "-q", str(wheels[0]))
    from keras_regkit import __version__

    out = _run(str(python), "-c", "import keras_regkit; "
               "print(keras_regkit.__version__)", cwd=tmp_path)
    assert out.strip() == __version__
    script = venv / "bin" / "keras-regkit"
    assert _run(str(script), "--version").strip() == (
        f"keras-regkit {__version__}")
    listed = _run(str(script), "lab", "list")
    assert "baseline [any] (default: images, text, audio): " in listed
    assert "token_dropout [text] (default: text): " in listed
    assert "spec_augment [audio] (default: audio): " in listed


def _repository():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["metadata"]["url"]


def test_repository_url_has_one_home_and_the_notebooks_follow_it():
    repository = _repository()
    assert repository.startswith("https://github.com/")
    _run(sys.executable, str(ROOT / "tools" / "sync_notebooks.py"), "--check")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        assert notebook["metadata"]["colab"]["name"] == path.name
        title = "".join(notebook["cells"][0]["source"])
        assert "colab-badge.svg" in title
        assert (f"colab.research.google.com/github/"
                f"{repository.split('github.com/')[1]}/blob/main/notebooks/"
                f"{path.name}") in title
        install = "".join(notebook["cells"][1]["source"])
        assert f'REPOSITORY = "{repository}"' in install


def _install_cell():
    path = min((ROOT / "notebooks").glob("*.ipynb"))
    return "".join(json.loads(path.read_text())["cells"][1]["source"])


@pytest.mark.parametrize("place", ["installed", "clone", "colab",
                                   "colab_unpublished"])
def test_install_cell_in_each_place(place, tmp_path, monkeypatch):
    """What the install cell asks pip for in each place it runs."""
    import importlib.util
    import os
    import subprocess as subprocess_module

    calls = []

    def fake_call(command, *args, **kwargs):
        assert command[1:5] == ["-m", "pip", "install", "-q"]
        calls.append(command[5:])
        unpublished = place == "colab_unpublished"
        from_index = command[-1] == "keras-regkit[lab]"
        return 1 if unpublished and from_index else 0

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "keras_regkit" and (
            place != "installed") else real_find_spec(name, *a))
    monkeypatch.setattr(subprocess_module, "call", fake_call)
    monkeypatch.chdir(ROOT / "notebooks" if place == "clone" else tmp_path)
    exec(_install_cell(), {})
    repository = _repository()
    expected = {
        "installed": [],
        "clone": [["-e", os.path.abspath(ROOT) + "[lab]"]],
        "colab": [["keras-regkit[lab]"]],
        "colab_unpublished": [["keras-regkit[lab]"],
                              [f"keras-regkit[lab] @ git+{repository}"]],
    }[place]
    assert calls == expected
