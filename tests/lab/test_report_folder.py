"""`--out`: only our own reports are replaced, atomically and by one run at
a time; interrupted and half-written runs keep what finished."""

import errno
import json
import os
import signal

import pytest

from keras_regkit.lab import runner
from keras_regkit.lab.cli import main
from keras_regkit.lab.errors import LabError
from keras_regkit.lab.report_folder import MARKER
from keras_regkit.lab.report_folder import ReportFolder
from tests.lab.fake_results import fake_results


def _write(folder, name, text="x"):
    with open(os.path.join(folder, name), "w") as f:
        f.write(text)


def _report(out, files=("report.md",)):
    with ReportFolder(out) as report:
        for name in files:
            _write(report.path, name, f"{name} of {out}")
    return out


def test_a_folder_that_merely_holds_a_summary_json_is_refused(tmp_path):
    """What the lab used to take for its own report (and wipe)."""
    out = tmp_path / "project"
    out.mkdir()
    _write(out, "summary.json", "{}")
    _write(out, "train.py", "print('my code')")
    with pytest.raises(LabError, match="not marked as a keras-regkit lab "
                                       "report; choose another --out"):
        ReportFolder(out).__enter__()
    assert sorted(os.listdir(out)) == ["summary.json", "train.py"]
    assert sorted(os.listdir(tmp_path)) == ["project"]


def test_our_report_is_replaced_but_not_once_a_user_file_is_added(tmp_path):
    out = _report(tmp_path / "out", ["report.md", "summary.json"])
    marker = json.loads((out / MARKER).read_text())
    assert marker["files"] == ["report.md", "summary.json"]
    _report(out, ["report.md"])
    assert sorted(os.listdir(out)) == [MARKER, "report.md"]
    _write(out, "notes.txt")
    with pytest.raises(LabError, match=r"holds files the lab did not write "
                                       r"\(notes.txt\)"):
        _report(out)
    assert (out / "notes.txt").exists()
    assert sorted(os.listdir(tmp_path)) == ["out"]  # nothing left behind


def test_a_second_concurrent_writer_is_refused(tmp_path):
    out = tmp_path / "out"
    with ReportFolder(out):
        with pytest.raises(LabError, match="is being written by another "
                                           "keras-regkit lab run"):
            ReportFolder(out).__enter__()
    _report(out)  # the lock went with the first writer
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_a_run_killed_mid_swap_or_mid_write_is_repaired_next_time(tmp_path):
    old = _report(tmp_path / "out", ["old.md"])
    # Killed between the renames: the old report was set aside, no --out.
    os.replace(old, tmp_path / "out.replaced-1234abcd")
    # Killed while writing: its scratch folder, and one not ours.
    with ReportFolder(tmp_path / "other") as report:
        scratch = report.path
        os.replace(scratch, tmp_path / "out.partial-dead")
        os.mkdir(scratch)
    (tmp_path / "out.partial-user").mkdir()
    with ReportFolder(tmp_path / "out") as report:
        assert (tmp_path / "out" / "old.md").exists()  # the old came back
        _write(report.path, "new.md")
    assert sorted(os.listdir(tmp_path)) == [
        "other", "out", "out.partial-user"]
    assert sorted(os.listdir(tmp_path / "out")) == [MARKER, "new.md"]


def _fake_lab(monkeypatch, on_second):
    """`run_recipe_seeds` that finishes the first recipe at once and calls
    `on_second()` for the next."""
    calls = []

    def run_recipe_seeds(recipe, data, seeds, **kwargs):
        calls.append(recipe["name"])
        if len(calls) > 1:
            on_second()
        return [r for r in fake_results([recipe["name"]])
                if r.seed in seeds]

    monkeypatch.setattr(runner, "run_recipe_seeds", run_recipe_seeds)
    return calls


def _interrupt():
    raise KeyboardInterrupt


def _terminate():
    os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.parametrize(("stop", "status"),
                         [(_interrupt, 130), (_terminate, 143)])
def test_ctrl_c_and_sigterm_keep_the_finished_recipes(
        monkeypatch, capsys, tmp_path, stop, status):
    calls = _fake_lab(monkeypatch, stop)
    out = tmp_path / "out"
    code = main(["lab", "--recipes", "baseline,l2,dropout", "--train-size",
                 "40", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == status and calls == ["baseline", "l2"]
    assert err == [f"keras-regkit: interrupted; the report of the 1 "
                   f"recipe(s) that finished is in {out}."]
    recipes = json.loads((out / "recipes.json").read_text())
    assert [r["name"] for r in recipes] == ["baseline"]
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_interrupted_before_any_recipe_finished_writes_nothing(
        monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(runner, "run_recipe_seeds",
                        lambda *args, **kwargs: _interrupt())
    code = main(["lab", "--recipes", "baseline", "--train-size", "40",
                 "--out", str(tmp_path / "out")])
    assert code == 130
    assert capsys.readouterr().err.strip() == (
        "keras-regkit: interrupted; no report was written.")
    assert os.listdir(tmp_path) == []


def test_a_full_disk_keeps_the_results_and_says_where(monkeypatch, capsys,
                                                      tmp_path):
    from keras_regkit.lab import report

    _fake_lab(monkeypatch, lambda: None)

    def full(recipes, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(report, "plot_gaps", full)
    out = tmp_path / "out"
    code = main(["lab", "--recipes", "baseline,l2", "--train-size", "40",
                 "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    [kept] = [p for p in tmp_path.iterdir() if p.name != "out"]
    summary = kept / "summary.json"
    assert err[0] == (
        f"keras-regkit: error: cannot write the report (No space left on "
        f"device writing {kept / 'gaps.png'}); the results of the 2 "
        f"recipe(s) that finished are kept in {summary}.")
    assert len(json.loads(summary.read_text())["results"]) == 4
    assert not out.exists()
    _report(out)  # a later run leaves the kept results alone
    assert kept.exists()
