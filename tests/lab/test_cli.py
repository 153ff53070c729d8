"""End-to-end tests of `keras-regkit lab` on real (digits) and tiny data."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_regkit.lab import recipes as recipes_lib
from keras_regkit.lab.cli import main

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _text(path):
    with open(path) as f:
        return f.read()


def _json(path):
    return json.loads(_text(path))


def _assert_png(path):
    from PIL import Image

    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    with Image.open(path) as image:
        image.verify()
        assert image.size[0] > 100 and image.size[1] > 100


def _assert_report(out, names, seeds=(0,)):
    files = set(os.listdir(out))
    assert {"report.md", "report.html", "summary.json", "summary.csv",
            "histories.json", "histories.csv", "recipes.json",
            "gaps.png", "curves"} <= files
    assert not any(".partial" in f for f in os.listdir(os.path.dirname(out)))
    summary = _json(os.path.join(out, "summary.json"))
    runs = [(name, seed) for name in names for seed in seeds]
    assert [(r["name"], r["seed"]) for r in summary["results"]] == runs
    assert [r["recipe"] for r in summary["recipes"]] == names
    for row in summary["results"]:
        for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
            assert 0.0 <= row[key] <= 1.0
        assert row["gap"] == pytest.approx(
            row["train_accuracy"] - row["test_accuracy"]
        )
        assert 1 <= row["best_epoch"] <= row["epochs_run"]
        assert 1 <= row["weights_epoch"] <= row["epochs_run"]
        assert row["params"] > 0
    with open(os.path.join(out, "summary.csv"), newline="") as f:
        assert [(r["name"], int(r["seed"])) for r in csv.DictReader(f)] == runs
    histories = _json(os.path.join(out, "histories.json"))
    assert list(histories) == names
    for by_seed in histories.values():
        assert sorted(by_seed) == sorted(str(s) for s in seeds)
        for history in by_seed.values():
            assert {"loss", "accuracy", "val_loss",
                    "val_accuracy"} <= set(history)
    with open(os.path.join(out, "histories.csv")) as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert {r["recipe"] for r in rows} == set(names)
    # The lab model's layers have the same names in every recipe, so the
    # CSV's columns line up (no conv2d_1, conv2d_5, ... per recipe).
    assert not any("conv2d" in column for column in reader.fieldnames)
    assert _json(os.path.join(out, "recipes.json"))
    _assert_png(os.path.join(out, "gaps.png"))
    markdown = _text(os.path.join(out, "report.md"))
    html = _text(os.path.join(out, "report.html"))
    for name in names:
        _assert_png(os.path.join(out, "curves", f"{name}.png"))
        assert f"curves/{name}.png" in markdown
        assert f"curves/{name}.png" in html
    assert "gaps.png" in markdown


def test_default_recipes_on_digits(tmp_path, capsys):
    out = str(tmp_path / "report")
    status = main(["lab", "--epochs", "2", "--out", out, "--train-size", "200"])
    assert status == 0
    printed = capsys.readouterr().out
    names = list(recipes_lib.DEFAULT_RECIPES)
    lines = printed.splitlines()
    # Not a terminal: one line per finished run, then complete tables
    # within 80 columns (nothing cut to "...").
    for name in names:
        for seed in (0, 1, 2):
            assert any(line.startswith(f"{name} seed {seed}: test acc ")
                       for line in lines)
    assert max(len(line) for line in lines) <= 80
    assert "\u2026" not in printed
    for header in ("test acc %", "vs baseline", "test loss", "loss gap",
                   "train %", "val %", "best val", "weights", "epochs",
                   "time s"):
        assert header in printed
    for name in names[1:]:
        assert f"{name}: " in printed and " the loss gap " in printed
    _assert_report(out, names, seeds=(0, 1, 2))
    summary = _json(os.path.join(out, "summary.json"))
    # The scheduled recipe logged its strength into the history.
    history = _json(os.path.join(out, "histories.json"))
    assert any(k.startswith("regkit/") for k in history["combined"]["0"])
    assert summary["meta"]["dataset"] == "digits"
    assert summary["meta"]["seeds"] == [0, 1, 2]
    for row in summary["recipes"][1:]:
        versus = row["vs_baseline"]
        low, high = versus["test_accuracy_interval"]
        assert low <= versus["test_accuracy"] <= high
        assert versus["test_accuracy_verdict"] in {"better", "worse",
                                                   "noise"}
    markdown = _text(os.path.join(out, "report.md"))
    assert "bootstrap interval" in markdown and "## What each recipe" in (
        markdown)


def test_verbose_prints_every_epoch(tmp_path, capsys):
    out = str(tmp_path / "report")
    assert main(["lab", "--recipes", "baseline", "--epochs", "3", "--seeds",
                 "1", "--out", out, "--train-size", "60", "-v"]) == 0
    printed = capsys.readouterr().out
    for epoch in (1, 2, 3):
        assert f"baseline seed 0: epoch {epoch} (val acc " in printed


def test_mixed_precision_trains_as_float32_does(tmp_path):
    """Under mixed_float16 the lab's step scales the loss (SAM's two
    passes and the dropout recipe included) and learns what float32
    learns; before, it moved the weights 1/32768 as far (chance
    accuracy). The policy in force before is restored."""
    import keras

    accuracy = {}
    for precision in ("float32", "mixed_float16"):
        out = str(tmp_path / precision)
        assert main(["lab", "--recipes", "baseline,sam,dropout", "--epochs",
                     "4", "--seeds", "1", "--out", out, "--train-size",
                     "200", "--precision", precision]) == 0
        summary = _json(os.path.join(out, "summary.json"))
        assert summary["meta"]["precision"] == precision
        accuracy[precision] = {r["name"]: r["test_accuracy"]
                               for r in summary["results"]}
    assert keras.mixed_precision.dtype_policy().name == "float32"
    for recipe, value in accuracy["float32"].items():
        assert value > 0.5, accuracy
        assert abs(accuracy["mixed_float16"][recipe] - value) < 0.1, accuracy


def test_same_seed_same_result(tmp_path):
    rows = []
    for run in range(2):
        out = str(tmp_path / f"r{run}")
        assert main(["lab", "--recipes", "l2", "--epochs", "2", "--out", out,
                     "--train-size", "120", "--seeds", "2"]) == 0
        result = _json(os.path.join(out, "summary.json"))["results"]
        rows.append([{k: v for k, v in r.items() if k != "wall_time"}
                     for r in result])
    assert rows[0] == rows[1]


def test_npz_dataset(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(60, 10, 10, 3)).astype("uint8")
    y = rng.integers(0, 3, size=(60,))
    path = tmp_path / "tiny.npz"
    np.savez(path, x=x, y=y)
    out = str(tmp_path / "out")
    assert main(["lab", "--dataset", str(path), "--recipes", "baseline,l2",
                 "--epochs", "1", "--out", out, "--jit", "--seeds", "1"]) == 0
    _assert_report(out, ["baseline", "l2"])
    meta = _json(os.path.join(out, "summary.json"))["meta"]
    assert meta["jit"] is True


def test_image_folder_dataset(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        folder = tmp_path / "images" / label
        folder.mkdir(parents=True)
        for i in range(8):
            pixels = rng.integers(0, 255, size=(12, 12, 3)).astype("uint8")
            Image.fromarray(pixels).save(folder / f"{i}.png")
    out = str(tmp_path / "out")
    assert main(["lab", "--dataset", str(tmp_path / "images"), "--recipes",
                 "baseline", "--epochs", "1", "--out", out, "--seeds", "1",
                 "--image-size", "16", "16"]) == 0
    _assert_report(out, ["baseline"])
    meta = _json(os.path.join(out, "summary.json"))["meta"]
    assert "(16, 16, 3)" in meta["data"]


def test_tfds_dataset_with_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    out = str(tmp_path / "out")
    with tfds.testing.mock_data(num_examples=40):
        status = main(["lab", "--dataset", "tfds:mnist", "--recipes",
                       "baseline", "--epochs", "1", "--out", out,
                       "--seeds", "1"])
    assert status == 0
    _assert_report(out, ["baseline"])
    meta = _json(os.path.join(out, "summary.json"))["meta"]
    assert "tfds:mnist" in meta["data"] and "(28, 28, 1)" in meta["data"]


def test_recipes_from_yaml_file_with_serialized_configs(tmp_path):
    import keras

    from keras_regkit import regularizers
    from keras_regkit import schedules

    reg = regularizers.L2(schedules.Cosine(0.0, 1e-3, 2))
    path = tmp_path / "recipes.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"recipes": [
        "baseline",
        {
            "name": "cosine_l2_noise",
            "description": "serialized objects",
            "kernel_regularizer": keras.saving.serialize_keras_object(reg),
            "augment": [keras.saving.serialize_keras_object(
                keras.layers.GaussianNoise(0.1))],
            "callbacks": [{"class_name": "StrengthScheduler",
                           "config": {"log_constants": True}}],
        },
    ]}))
    out = str(tmp_path / "out")
    assert main(["lab", "--recipes", str(path), "--epochs", "2", "--out", out,
                 "--train-size", "100", "--seeds", "1"]) == 0
    _assert_report(out, ["baseline", "cosine_l2_noise"])


def test_sweep_with_keras_tuner(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    status = main(["lab", "sweep", "--param", "l2", "--min", "1e-5", "--max",
                   "1e-1", "--trials", "3", "--epochs", "2", "--out", out,
                   "--train-size", "150"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "Best l2" in printed
    result = _json(os.path.join(out, "sweep.json"))["sweep"]
    # The best value sits at an end of the range: the sweep says so.
    at_edge = result["best_value"] in (result["values"][0],
                                       result["values"][-1])
    assert ("the best may lie beyond it" in " ".join(printed.split())) == (
        at_edge)
    assert set(_json(os.path.join(out, "summary.json"))) == {"meta"}
    assert result["values"] == pytest.approx([1e-5, 1e-3, 1e-1])
    assert len(result["scores"]) == 3
    assert result["best_value"] in result["values"]
    assert result["best_score"] == max(result["scores"])
    _assert_png(os.path.join(out, "sweep.png"))
    assert "sweep.png" in _text(os.path.join(out, "sweep.md"))


def test_list_recipes(capsys):
    assert main(["lab", "list"]) == 0
    printed = capsys.readouterr().out
    for name in recipes_lib.builtin_names():
        assert name in printed
    assert "baseline [any] (default: images, text, audio): " in printed
    assert "dropout [images, audio] (default: images, audio): " in printed
    assert "spec_augment [audio] (default: audio): " in printed
    assert "token_dropout [text] (default: text): " in printed
    assert "sam [any]: " in printed


def test_list_and_version_answer_without_loading_keras():
    code = (
        "import sys\n"
        "from keras_regkit.lab.cli import main\n"
        "assert main(['lab', 'list']) == 0\n"
        "heavy = {'keras', 'tensorflow', 'jax'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    from keras_regkit import __version__

    assert result.stdout.strip().endswith(f"keras-regkit {__version__}")


def test_lab_guide_lists_every_builtin_recipe(capsys):
    """The lab guide's recipe table is `keras-regkit lab list --markdown`."""
    assert main(["lab", "list", "--markdown"]) == 0
    table = capsys.readouterr().out.strip()
    readme = os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                          "guides", "lab.md")
    assert table in _text(readme)


def test_console_script_and_module_entry_points(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    script = os.path.join(os.path.dirname(sys.executable), "keras-regkit")
    for command in ([script], [sys.executable, "-m", "keras_regkit"]):
        result = subprocess.run(
            [*command, "lab", "--recipes", "nope"], capture_output=True,
            text=True, env=env, timeout=300,
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "keras-regkit: error: unknown recipe 'nope'. Built-in recipes: "
            + ", ".join(recipes_lib.builtin_names())
            + "; or give a .json/.yaml file."
        ]


def test_preview_writes_a_png_grid_of_the_default_pipeline(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["preview", "--out", str(out), "--samples", "5",
                 "--size", "64", "96"]) == 0
    _assert_png(out)
    assert str(out) in capsys.readouterr().out


def test_preview_of_a_recipe_and_a_pipeline_file(tmp_path):
    from keras_regkit.lab.preview import load_image
    from keras_regkit.lab.preview import load_pipeline
    from keras_regkit.lab.preview import write_preview

    assert main(["preview", "--pipeline", "randaugment", "--out",
                 str(tmp_path / "r.png"), "--samples", "3"]) == 0
    _assert_png(tmp_path / "r.png")
    spec = tmp_path / "pipeline.yaml"
    spec.write_text("- {class_name: RandomFlip, config: {mode: horizontal, "
                    "probability: 1.0}}\n")
    layers = load_pipeline(str(spec))
    image = load_image("flower", (32, 48))
    out = write_preview(str(tmp_path / "f.png"), image, layers, samples=2)
    # Probability 1: every sample is the mirrored photo.
    np.testing.assert_allclose(out[0] * 255, image[:, ::-1], atol=0.5)


def test_preview_draws_the_subject_box_and_mask(tmp_path, capsys):
    import matplotlib.image

    from keras_regkit.lab.preview import SUBJECTS
    from keras_regkit.lab.preview import load_image
    from keras_regkit.lab.preview import load_pipeline
    from keras_regkit.lab.preview import write_preview

    out = tmp_path / "boxes.png"
    assert main(["preview", "--boxes", "--image", "flower", "--out",
                 str(out), "--samples", "3"]) == 0
    _assert_png(out)
    pixels = matplotlib.image.imread(str(out))[..., :3]
    yellow = (pixels[..., 0] > 0.9) & (pixels[..., 1] > 0.9) & (
        pixels[..., 2] < 0.2)
    cyan = (pixels[..., 0] < 0.2) & (pixels[..., 1] > 0.9) & (
        pixels[..., 2] > 0.9)
    assert yellow.sum() > 100 and cyan.sum() > 100
    # With a constant fill the subject's mask is the only one, and the
    # moved box encloses it.
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(
        "- {class_name: Augment, config: {layers: [\n"
        "  {class_name: RandomRotation, config: {factor: 0.1, "
        "fill_mode: constant}},\n"
        "  {class_name: RandomZoom, config: {height_factor: 0.2, "
        "fill_mode: constant}}]}}\n")
    image = load_image("china", (64, 96))
    _, boxes, masks = write_preview(
        str(tmp_path / "c.png"), image, load_pipeline(str(spec)), samples=4,
        subject=SUBJECTS["china"])
    for box, mask in zip(boxes[:, 0], masks[..., 0], strict=True):
        rows, cols = np.nonzero(mask == 1)
        enclosing = np.array([cols.min() / 96, rows.min() / 64,
                              (cols.max() + 1) / 96, (rows.max() + 1) / 64])
        np.testing.assert_allclose(box, enclosing, atol=1.5 / 64)
    assert main(["preview", "--boxes", "--image", "missing.png"]) == 2
    # RandAugment moves boxes now; AugMix's geometric chains cannot.
    assert main(["preview", "--boxes", "--pipeline", "randaugment",
                 "--out", str(tmp_path / "r.png")]) == 0
    augmix = tmp_path / "augmix.yaml"
    augmix.write_text(
        "- {class_name: AugMix, config: {value_range: [0, 255]}}\n")
    assert main(["preview", "--boxes", "--pipeline", str(augmix),
                 "--out", str(tmp_path / "a.png")]) == 2
    assert "Pass geometric=False" in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists()


def test_preview_errors(tmp_path, capsys):
    assert main(["preview", "--pipeline", "nope"]) == 2
    assert "neither a built-in recipe" in capsys.readouterr().err
    assert main(["preview", "--image", "missing.png"]) == 2
    assert "neither a bundled image" in capsys.readouterr().err
    assert main(["preview", "--pipeline", "baseline"]) == 2
    assert "has no augmentation layers" in capsys.readouterr().err


def test_robustness_column_with_seeds_and_intervals(tmp_path, capsys):
    out = str(tmp_path / "robust")
    assert main(["lab", "--recipes", "baseline,pgd", "--epochs", "2",
                 "--seeds", "2", "--train-size", "100", "--robustness",
                 "0.1", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "Clean and robust accuracy" in printed
    _assert_report(out, ["baseline", "pgd"], seeds=(0, 1))
    summary = _json(os.path.join(out, "summary.json"))
    assert summary["meta"]["robustness"] == 0.1
    for row in summary["results"]:
        # Under attack an example can only lose its correct class.
        assert 0.0 <= row["robust_accuracy"] <= row["test_accuracy"]
    pgd = summary["recipes"][1]
    low, high = pgd["vs_baseline"]["robust_accuracy_interval"]
    assert low <= pgd["vs_baseline"]["robust_accuracy"] <= high
    assert "## Clean and robust accuracy" in _text(
        os.path.join(out, "report.md"))
    assert "robust %" in _text(os.path.join(out, "report.html"))


def test_robustness_refuses_text_and_nonsense(tmp_path, capsys):
    path = tmp_path / "tokens.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(2, 50, (40, 12)), y=rng.integers(0, 2, 40))
    assert main(["lab", "--dataset", str(path), "--robustness", "0.1",
                 "--out", str(tmp_path / "r")]) == 2
    assert "token ids do not have" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["lab", "--robustness", "-1"])
