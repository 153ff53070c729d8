"""Writes the notebooks' install cell, "Open in Colab" badge and Colab
metadata from the repository URL in `setup.cfg` (its one home).

    python tools/sync_notebooks.py          # rewrite the notebooks
    python tools/sync_notebooks.py --check  # exit 1 if any is out of date

The install cell works in three places: in Colab it installs
`keras-regkit[lab]` from the package index, or from the repository when
the package is not published (yet); in a local clone it installs the
clone; where keras_regkit is installed already (CI, a set-up venv) it
does nothing.
"""

import configparser
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
INSTALL_MARK = "# keras_regkit install cell (tools/sync_notebooks.py)"
GUIDE_MARK = "The matching guide:"
# Each notebook's guide pages on the documentation site (docs/guides/).
GUIDES = {
    "01_regularizers_and_schedules.ipynb": [
        ("Schedules and strengths", "schedules-and-strengths.md"),
        ("Callbacks", "callbacks.md")],
    "02_lab_from_python.ipynb": [("The lab", "lab.md")],
    "03_augmentation_and_train_steps.ipynb": [
        ("Augmentation", "augmentation.md"),
        ("Train-step components", "train-step.md")],
    "04_boxes_and_masks.ipynb": [
        ("Augmentation: boxes and masks",
         "augmentation.md#boxes-and-masks")],
    "05_text_regularization.ipynb": [("Text and sequences", "text.md")],
    "06_speech_and_recommendation.ipynb": [
        ("Speech and audio", "audio.md"),
        ("Embeddings at recommender scale", "recommendation.md")],
}


def repository_url():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["metadata"]["url"].rstrip("/")


def colab_url(repository, name):
    path = repository.split("github.com/", 1)[1]
    return (f"https://colab.research.google.com/github/{path}/blob/main/"
            f"notebooks/{name}")


def badge(repository, name):
    return f"[![Open In Colab]({BADGE})]({colab_url(repository, name)})"


def install_cell(repository):
    return f'''{INSTALL_MARK}
# Colab: from the package index, else from the repository. A local clone:
# installs the clone. Already installed (CI, your venv): nothing to do.
import importlib.util
import os
import subprocess
import sys

REPOSITORY = "{repository}"
if importlib.util.find_spec("keras_regkit") is None:
    def pip(*args):
        return subprocess.call(
            [sys.executable, "-m", "pip", "install", "-q", *args])
    clone = os.path.abspath("..")
    if os.path.exists(os.path.join(clone, "setup.cfg")):
        pip("-e", clone + "[lab]")
    elif pip("keras-regkit[lab]") != 0:
        pip(f"keras-regkit[lab] @ git+{{REPOSITORY}}")
import keras_regkit

print("keras_regkit", keras_regkit.__version__)'''


def guide_line(repository, name):
    links = ", ".join(
        f"[{title}]({repository}/blob/main/docs/guides/{page})"
        for title, page in GUIDES[name])
    return f"{GUIDE_MARK} {links}."


def synced(notebook, name, repository):
    """`notebook` (a dict) with the badge, guide links, install cell and
    metadata."""
    cells = notebook["cells"]
    title = cells[0]
    lines = "".join(title["source"]).splitlines()
    rest = [line for line in lines[1:] if "colab-badge.svg" not in line
            and not line.startswith(GUIDE_MARK)]
    while rest and not rest[0].strip():
        del rest[0]
    lines = [lines[0], "", badge(repository, name), "",
             guide_line(repository, name), "", *rest]
    title["source"] = _source("\n".join(lines))
    install = next(
        (c for c in cells if c["cell_type"] == "code"
         and ("keras_regkit install cell" in "".join(c["source"])
              or "%pip install" in "".join(c["source"]))),
        None,
    )
    if install is None:
        install = {"cell_type": "code", "execution_count": None,
                   "id": "regkit-install", "metadata": {}, "outputs": [],
                   "source": []}
        cells.insert(1, install)
    install["source"] = _source(install_cell(repository))
    metadata = notebook.setdefault("metadata", {})
    metadata["colab"] = {"name": name, "provenance": []}
    metadata.setdefault("kernelspec", {"display_name": "Python 3",
                                       "language": "python",
                                       "name": "python3"})
    return notebook


def _source(text):
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def main(argv):
    check = "--check" in argv
    repository = repository_url()
    stale = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        text = path.read_text()
        notebook = synced(json.loads(text), path.name, repository)
        new = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        if new != text:
            stale.append(path.name)
            if not check:
                path.write_text(new)
    if check and stale:
        print("out of date (run python tools/sync_notebooks.py): "
              + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
