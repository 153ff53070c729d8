"""Bad input to `keras-regkit lab`: one clear line, non-zero exit, no report."""

import json
import os

import numpy as np
import pytest

from keras_regkit.lab.cli import main


def _fails(capsys, argv, message, tmp_path):
    out = tmp_path / "out"
    status = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1, err
    assert err[0].startswith("keras-regkit: error: ")
    assert message in err[0], err[0]
    # Nothing half-written that looks like a report.
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if ".partial" in p]
    return err[0]


def test_unknown_recipe(capsys, tmp_path):
    from keras_regkit.lab.recipes import builtin_names

    listed = ", ".join(builtin_names())
    _fails(capsys, ["lab", "--recipes", "l2,l3"], "unknown recipe 'l3'. "
           f"Built-in recipes: {listed};", tmp_path)


def test_unreadable_recipe_file(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    _fails(capsys, ["lab", "--recipes", str(bad)],
           f"cannot read recipes from {bad}", tmp_path)


def test_missing_recipe_file(capsys, tmp_path):
    _fails(capsys, ["lab", "--recipes", str(tmp_path / "none.yaml")],
           "no such file", tmp_path)


def test_recipe_with_unknown_key(capsys, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"name": "x", "regularizer": {}}]))
    _fails(capsys, ["lab", "--recipes", str(path)],
           "recipe 'x': unknown key(s) ['regularizer']; allowed:", tmp_path)


def test_recipe_with_bad_regularizer_config(capsys, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"name": "x", "kernel_regularizer": {
        "class_name": "L2", "config": {"l2": -1.0}}}]))
    _fails(capsys, ["lab", "--recipes", str(path)],
           "recipe 'x': kernel_regularizer: ValueError: Invalid value for "
           "argument `l2` of L2", tmp_path)


def test_recipe_with_unknown_layer(capsys, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"name": "x", "head": [
        {"class_name": "NoSuchLayer", "config": {}}]}]))
    _fails(capsys, ["lab", "--recipes", str(path)], "recipe 'x': head:",
           tmp_path)


def test_recipe_with_unknown_callback(capsys, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"name": "x", "callbacks": [
        {"class_name": "Nope", "config": {}}]}]))
    _fails(capsys, ["lab", "--recipes", str(path)],
           "recipe 'x': callbacks: unknown callback 'Nope'", tmp_path)


@pytest.mark.parametrize(("callback", "message"), [
    ({"class_name": "BackupAndRestore", "config": {"backup_dir": "KEEP"}},
     "callback 'BackupAndRestore' is not allowed in a recipe"),
    ({"class_name": "CSVLogger", "config": {"filename": "KEEP/f.csv"}},
     "callback 'CSVLogger' is not allowed in a recipe"),
    ({"class_name": "ModelCheckpoint",
      "config": {"filepath": "KEEP/m.keras"}},
     "callback 'ModelCheckpoint' is not allowed in a recipe"),
    ({"class_name": "TensorBoard", "config": {"log_dir": "KEEP"}},
     "callback 'TensorBoard' is not allowed in a recipe"),
    ({"class_name": "RemoteMonitor", "config": {"root": "http://x"}},
     "callback 'RemoteMonitor' is not allowed in a recipe"),
    ({"class_name": "LambdaCallback", "config": {"on_epoch_end": "x"}},
     "callback 'LambdaCallback' is not allowed in a recipe"),
    ({"class_name": "EarlyStopping", "config": {"backup_dir": "KEEP"}},
     "EarlyStopping argument(s) ['backup_dir'] would write files"),
    ({"class_name": "EarlyStopping", "config": {
        "weights_store": "disk", "weights_path": "KEEP/w.weights.h5"}},
     "EarlyStopping argument(s) ['weights_path'] would write files"),
])
def test_a_recipe_touches_no_file(capsys, tmp_path, callback, message):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "precious.txt").write_text("still here")
    config = json.loads(json.dumps(callback).replace("KEEP", str(keep)))
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"name": "x", "callbacks": [config]}]))
    _fails(capsys, ["lab", "--recipes", str(path), "--epochs", "1"],
           message, tmp_path)
    assert sorted(os.listdir(keep)) == ["precious.txt"]


def test_a_recipe_layer_reads_no_file(capsys, tmp_path):
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("a\nb\n")
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"name": "x", "head": [
        {"class_name": "StringLookup",
         "config": {"vocabulary": str(vocabulary)}}]}]))
    _fails(capsys, ["lab", "--recipes", str(path)],
           "StringLookup argument 'vocabulary' names a file", tmp_path)


def test_duplicate_recipe_names(capsys, tmp_path):
    _fails(capsys, ["lab", "--recipes", "l2,l2"],
           "recipe names must be unique; ['l2']", tmp_path)


def test_unknown_dataset(capsys, tmp_path):
    _fails(capsys, ["lab", "--dataset", "mnist"],
           "--dataset 'mnist' is not a data set. Allowed: digits (default); "
           "tones (synthetic audio); tfds:NAME", tmp_path)


def test_npz_with_wrong_keys(capsys, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((4, 8, 8)))
    _fails(capsys, ["lab", "--dataset", str(path)],
           "a .npz data set needs arrays 'x' and 'y'", tmp_path)


def test_npz_with_wrong_image_shape(capsys, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 8)), y=np.zeros(4, "int64"))
    _fails(capsys, ["lab", "--dataset", str(path)],
           "images must have shape (N, H, W) or (N, H, W, C); got (4, 8)",
           tmp_path)


def test_npz_with_mismatched_labels(capsys, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 8, 8)), y=np.zeros(3, "int64"))
    _fails(capsys, ["lab", "--dataset", str(path)],
           "4 examples but 3 labels; they must match", tmp_path)


def test_npz_with_float_labels(capsys, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 8, 8)), y=np.zeros(4))
    _fails(capsys, ["lab", "--dataset", str(path)],
           "labels must be integer class ids", tmp_path)


def test_npz_with_nan_or_inf_images(capsys, tmp_path):
    path = tmp_path / "d.npz"
    x = np.random.default_rng(0).uniform(size=(40, 8, 8)).astype("float32")
    x[3, 2, 2] = np.nan
    x[7, 0, 1] = np.inf
    np.savez(path, x=x, y=np.arange(40) % 4)
    _fails(capsys, ["lab", "--dataset", str(path)],
           "2 of 2560 image values are NaN or infinite", tmp_path)


def test_unreadable_npz(capsys, tmp_path):
    path = tmp_path / "d.npz"
    path.write_text("not a zip")
    _fails(capsys, ["lab", "--dataset", str(path)],
           f"cannot read {path} as a .npz file", tmp_path)


def test_tfds_name_not_known(capsys, tmp_path):
    pytest.importorskip("tensorflow_datasets")
    _fails(capsys, ["lab", "--dataset", "tfds:no_such_set"],
           "tfds:no_such_set is not a TensorFlow Datasets name", tmp_path)


def test_train_size_too_large(capsys, tmp_path):
    _fails(capsys, ["lab", "--train-size", "100000"],
           "--train-size 100000 is larger than the", tmp_path)


def test_out_is_a_foreign_folder(capsys, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    status = main(["lab", "--recipes", "baseline", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert "is not a folder the lab may replace" in err
    assert (out / "thesis.tex").read_text() == "precious"


def test_sweep_bad_param(capsys, tmp_path):
    _fails(capsys, ["lab", "sweep", "--param", "gamma"],
           "--param 'gamma' is not tunable; choose one of l2, l1, dropout",
           tmp_path)


def test_sweep_bad_range(capsys, tmp_path):
    _fails(capsys, ["lab", "sweep", "--param", "dropout", "--min", "0.2",
                    "--max", "1.5"],
           "--min 0.2 --max 1.5 is not a valid range for dropout", tmp_path)


def test_bad_epochs_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["lab", "--epochs", "0"])
    assert info.value.code == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err


def test_huge_numbers_are_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["lab", "--batch-size", str(10**9)])
    assert info.value.code == 2
    assert "expected a positive integer up to 1,000,000, got '1000000000'" \
        in capsys.readouterr().err


# Everything is checked before training, in one line each.


@pytest.mark.parametrize(("text", "message"), [
    ("recipes:\n  - name: a\n    description: [1, 2]\n",
     "'description' must be text of at most 2000 characters; got list"),
    ("recipes:\n  - name: a\n    optimizer: {class_name: Adamm}\n",
     "recipe 'a': optimizer:"),
    ("recipes:\n  - name: a\n    head: [\n",
     "at line 4, column 1"),
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
     "recipes:\n  - name: bomb\n    description: [*e, *e, *e, *e, *e]\n",
     "more than 20000 values"),
])
def test_bad_recipe_files_fail_in_one_line(capsys, tmp_path, text, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    _fails(capsys, ["lab", "--recipes", str(path)], message, tmp_path)


@pytest.mark.parametrize("seed", ["-1", str(2**32), "x"])
def test_seed_out_of_range_is_an_argparse_error(capsys, seed):
    with pytest.raises(SystemExit) as error:
        main(["lab", "--seed", seed])
    assert error.value.code == 2
    assert "expected an integer in [0, 2**32)" in capsys.readouterr().err


def test_symlinked_out_is_refused(capsys, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    status = main(["lab", "--recipes", "baseline", "--out", str(link)])
    assert status == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert os.listdir(target) == []


def _image_folder(root, classes, per_class=6, corrupt=False):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in classes:
        folder = root / label
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (12, 12, 3)).astype("uint8")
            Image.fromarray(pixels).save(folder / f"{i}.png")
    if corrupt:
        (root / classes[0] / "broken.png").write_bytes(b"\x89PNG not really")
    return root


def test_folder_with_a_corrupt_image(capsys, tmp_path):
    root = _image_folder(tmp_path / "images", ["cat", "dog"], corrupt=True)
    _fails(capsys, ["lab", "--dataset", str(root), "--image-size", "12",
                    "12"], "cannot read image", tmp_path)


def test_folder_with_a_single_class(capsys, tmp_path):
    root = _image_folder(tmp_path / "images", ["cat"])
    _fails(capsys, ["lab", "--dataset", str(root)],
           "a classifier needs at least 2 sub-folders", tmp_path)


def test_finished_recipes_are_kept_when_a_later_one_fails(capsys, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(["baseline", {"name": "too_big_blocks",
                                             "block": [{
        "class_name": "DropBlock2D",
        "config": {"rate": 0.1, "block_size": 7}}]}]))
    out = tmp_path / "out"
    status = main(["lab", "--recipes", str(path), "--epochs", "1",
                   "--train-size", "40", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and "recipe 'too_big_blocks' failed" in err[0]
    assert "the report of the 1 recipe(s) that finished" in err[0]
    summary = json.loads((out / "recipes.json").read_text())
    assert [r["name"] for r in summary] == ["baseline"]


def test_unwritable_out_is_one_line(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    status = main(["lab", "--recipes", "baseline", "--out",
                   str(blocker / "report")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert "cannot write there" in err[0]


def test_folder_with_small_classes_warns(tmp_path):
    from keras_regkit.lab.data import load_folder

    root = _image_folder(tmp_path / "images", ["a", "b"], per_class=6)
    _image_folder(tmp_path / "extra", ["c"], per_class=2)
    os.replace(tmp_path / "extra" / "c", root / "c")
    with pytest.warns(UserWarning, match=r"classes \['c'\] have fewer than "
                      "5 images"):
        data = load_folder(str(root), image_size=(12, 12))
    assert data.num_classes == 3
    assert data.x_train.dtype == np.float32
