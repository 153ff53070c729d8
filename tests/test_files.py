"""`keras_regkit._files` in a process other than 0 of a multi-process run
(simulated): it runs the writer, leaves the shared folder alone and waits
for process 0 at every write; files of its own it writes."""

import os

import pytest

from keras_regkit import _files


@pytest.fixture
def process_1(monkeypatch):
    synced = []
    monkeypatch.setattr(_files.jax_compat, "process_index", lambda: 1)
    monkeypatch.setattr(_files.jax_compat, "sync_processes", synced.append)
    return synced


def test_another_process_runs_the_writer_but_writes_nothing_shared(
        process_1, tmp_path):
    written = []

    def write(temporary):
        written.append(temporary)
        with open(temporary, "w") as f:  # as save_weights would
            f.write("weights")

    target = tmp_path / "epoch1.weights.h5"
    _files.write_atomically(target, write)
    _files.write_text(tmp_path / "state.json", "{}")
    assert not list(tmp_path.iterdir())  # nothing in the shared folder
    # ... into a scratch folder elsewhere, removed after.
    assert written[0].endswith("epoch1.weights.h5")
    assert not written[0].startswith(str(tmp_path))
    assert not os.path.exists(os.path.dirname(written[0]))
    assert process_1 == [f"keras_regkit wrote {target}",
                         f"keras_regkit wrote {tmp_path / 'state.json'}"]

    (tmp_path / "mine.txt").write_text("someone's")
    (tmp_path / ".regkit-tmp-leftover").write_text("")
    _files.remove_file(tmp_path / "mine.txt")
    _files.remove_leftovers(tmp_path)
    _files.remove_ours(tmp_path, lambda name: True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".regkit-tmp-leftover", "mine.txt"]


def test_another_process_writes_its_own_files(process_1, tmp_path):
    _files.write_atomically(tmp_path / "own.txt",
                            lambda path: open(path, "w").close(),
                            every_process=True)
    assert [p.name for p in tmp_path.iterdir()] == ["own.txt"]
    assert process_1 == []  # nobody else waits for it
