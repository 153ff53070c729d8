"""Data sets for the lab: bundled digits, TFDS names, `.npz` files, folders.

Every loader returns a `LabData`: float32 images in [0, 1] with a channel
axis, or int32 token-id sequences `(N, T)` (text), integer labels, and fixed
train/validation/test splits drawn from the seed. Problems with the input
raise `LabError` with one clear line.
"""

import dataclasses
import os
import warnings

import numpy as np

from keras_regkit.lab.errors import LabError

SOURCES = (
    "digits (default)",
    "tfds:NAME",
    "a .npz file with arrays x and y (images, or integer token ids (N, T))",
    "a folder of images, one sub-folder per class",
)


@dataclasses.dataclass
class LabData:
    """Train/validation/test splits of a classification data set: images,
    or token-id sequences when `vocabulary_size` > 0."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    vocabulary_size: int = 0

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    @property
    def is_text(self):
        return self.vocabulary_size > 0

    def describe(self):
        if self.is_text:
            return (
                f"{self.name}: {len(self.x_train)} train / {len(self.x_val)} "
                f"validation / {len(self.x_test)} test sequences of "
                f"{self.input_shape[0]} tokens (vocabulary "
                f"{self.vocabulary_size}), {self.num_classes} classes"
            )
        return (
            f"{self.name}: {len(self.x_train)} train / {len(self.x_val)} "
            f"validation / {len(self.x_test)} test images of shape "
            f"{self.input_shape}, {self.num_classes} classes"
        )


def _as_images(x, source):
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise LabError(
            f"{source}: images must have shape (N, H, W) or (N, H, W, C); "
            f"got {x.shape}."
        )
    if x.shape[-1] not in (1, 3, 4):
        raise LabError(
            f"{source}: images need 1, 3 or 4 channels in the last axis; "
            f"got shape {x.shape}."
        )
    if not np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_:
        raise LabError(f"{source}: images must be numeric; got {x.dtype}.")
    x = x.astype("float32", copy=False)
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise LabError(
            f"{source}: {bad} of {x.size} image values are NaN or infinite; "
            "fix or drop those images (the lab does not train on them)."
        )
    if x.size and (x.max() > 1.0 or x.min() < 0.0):
        low, high = float(x.min()), float(x.max())
        x = (x - low) / max(high - low, 1e-12)
    return x


def _is_tokens(x):
    """Integer arrays `(N, T)` are token ids (images have 3 or 4 axes)."""
    x = np.asarray(x)
    return x.ndim == 2 and np.issubdtype(x.dtype, np.integer)


def _as_tokens(x, source):
    x = np.asarray(x)
    if not _is_tokens(x):
        raise LabError(
            f"{source}: token ids must be integers of shape (N, T); got "
            f"{x.dtype} {x.shape}."
        )
    if x.size and x.min() < 0:
        raise LabError(f"{source}: token ids must be >= 0 (0 is padding); "
                       f"got {x.min()}.")
    if x.size and x.max() >= 2**31 - 1:
        raise LabError(f"{source}: token ids must fit int32; got {x.max()}.")
    return x.astype("int32")


def _as_inputs(x, source):
    return _as_tokens(x, source) if _is_tokens(x) else _as_images(x, source)


def _as_labels(y, n, source):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)  # one-hot
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise LabError(
            f"{source}: labels must be integer class ids of shape (N,) or "
            f"one-hot of shape (N, classes); got {y.dtype} {y.shape}."
        )
    if len(y) != n:
        raise LabError(
            f"{source}: {n} images but {len(y)} labels; they must match."
        )
    if len(y) and y.min() < 0:
        raise LabError(f"{source}: labels must be >= 0; got {y.min()}.")
    return y.astype("int64")


def _split(name, x, y, seed, train_size, test=None):
    """Seeded shuffled split: 20% test, then a quarter of the rest for
    validation (unless the data set brings its own test split).

    Training images left out by `train_size` join the test split when the
    data set has no test split of its own: a larger test set makes the
    comparison of recipes less noisy.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    if test is None:
        n_test = max(1, len(x) // 5)
        x_test, y_test, x, y = x[:n_test], y[:n_test], x[n_test:], y[n_test:]
    else:
        x_test, y_test = test
    n_val = max(1, len(x) // 4)
    x_val, y_val, x_train, y_train = x[:n_val], y[:n_val], x[n_val:], y[n_val:]
    if train_size is not None:
        if train_size > len(x_train):
            raise LabError(
                f"--train-size {train_size} is larger than the {len(x_train)} "
                f"training images {name} has after the validation split."
            )
        if test is None:
            x_test = np.concatenate([x_test, x_train[train_size:]])
            y_test = np.concatenate([y_test, y_train[train_size:]])
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    if len(x_train) < 2:
        raise LabError(f"{name}: too few images to train on ({len(x_train)}).")
    num_classes = int(max(y_train.max(), y_val.max(), y_test.max())) + 1
    vocabulary_size = 0
    if _is_tokens(x_train):
        vocabulary_size = int(max(x_train.max(), x_val.max(),
                                  x_test.max())) + 1
    return LabData(
        name, x_train, y_train, x_val, y_val, x_test, y_test, num_classes,
        max(vocabulary_size, 2) if vocabulary_size else 0,
    )


def load_digits_data(seed=0, train_size=None):
    """scikit-learn's bundled 8x8 digits (1,797 real images, no download)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = _as_images(digits.images / 16.0, "digits")
    y = _as_labels(digits.target, len(x), "digits")
    return _split("digits", x, y, seed, train_size)


def load_npz(path, seed=0, train_size=None):
    try:
        with np.load(path, allow_pickle=False) as arrays:
            keys = set(arrays.files)
            if {"x", "y"} <= keys:
                x = _as_inputs(arrays["x"], path)
                y = _as_labels(arrays["y"], len(x), path)
                return _split(path, x, y, seed, train_size)
            if {"x_train", "y_train", "x_test", "y_test"} <= keys:
                x = _as_inputs(arrays["x_train"], path)
                y = _as_labels(arrays["y_train"], len(x), path)
                x_test = _as_inputs(arrays["x_test"], path)
                y_test = _as_labels(arrays["y_test"], len(x_test), path)
                return _split(path, x, y, seed, train_size, (x_test, y_test))
    except LabError:
        raise
    except (OSError, ValueError) as error:
        raise LabError(f"cannot read {path} as a .npz file: {error}") from None
    raise LabError(
        f"{path}: a .npz data set needs arrays 'x' and 'y' (or 'x_train', "
        f"'y_train', 'x_test', 'y_test'); it has {sorted(keys)}."
    )


def load_folder(path, seed=0, train_size=None, image_size=(32, 32)):
    import keras

    try:
        dataset = keras.utils.image_dataset_from_directory(
            path,
            labels="inferred",
            label_mode="int",
            image_size=image_size,
            shuffle=False,
            batch_size=None,
            verbose=False,
        )
    except ValueError as error:
        raise LabError(f"cannot read images from {path}: {error}") from None
    files = list(dataset.file_paths)
    if not files:
        raise LabError(f"{path}: no images found.")
    if len(dataset.class_names) < 2:
        raise LabError(
            f"{path}: images of {len(dataset.class_names)} class "
            f"({', '.join(dataset.class_names)}); a classifier needs at least "
            "2 sub-folders, one per class."
        )
    # One preallocated array: no Python list of images, no extra copies.
    shape = (len(files), *image_size, 3)
    needed = int(np.prod(shape)) * 4
    available = _available_memory()
    if available is not None and needed > 0.8 * available:
        raise LabError(
            f"{path}: {len(files)} images at {image_size[0]}x{image_size[1]} "
            f"need {needed / 2**30:.1f} GiB in memory, more than the "
            f"{available / 2**30:.1f} GiB available; use a smaller "
            "--image-size or fewer images."
        )
    x = np.empty(shape, "float32")
    y = np.empty((len(files),), "int64")
    index = 0
    try:
        for image, label in dataset:
            x[index] = np.asarray(image) / 255.0
            y[index] = int(label)
            index += 1
    except Exception as error:  # noqa: BLE001 (any undecodable file)
        first = str(error).strip().splitlines()[0][:120]
        raise LabError(
            f"cannot read image {files[index]}: {type(error).__name__}: "
            f"{first}"
        ) from None
    counts = np.bincount(y, minlength=len(dataset.class_names))
    small = [name for name, count in zip(dataset.class_names, counts,
                                         strict=True)
             if count < 5]
    if small:
        warnings.warn(
            f"{path}: classes {small} have fewer than 5 images; they may "
            "be missing from the validation or test split.", stacklevel=2)
    x = _as_images(x, path)
    y = _as_labels(y, len(x), path)
    return _split(path, x, y, seed, train_size)


def _available_memory():
    """Bytes of memory available now, or None where the system won't say."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _to_arrays(tfds, dataset):
    images, labels = [], []
    for image, label in tfds.as_numpy(dataset.batch(1024)):
        images.append(image)
        labels.append(label)
    return np.concatenate(images), np.concatenate(labels)


#: Text from TFDS becomes this many token ids per example, from a
#: vocabulary of at most `TEXT_VOCABULARY` words (0 padding, 1 unknown).
TEXT_LENGTH = 200
TEXT_VOCABULARY = 10_000


def _vectorized(arrays):
    """`[(texts, labels), ...]` as token ids, from a vocabulary learnt on
    the first (training) part only."""
    import keras

    vectorize = keras.layers.TextVectorization(
        max_tokens=TEXT_VOCABULARY, output_sequence_length=TEXT_LENGTH)
    vectorize.adapt(arrays[0][0].astype(str))
    return [(np.asarray(vectorize(texts.astype(str))).astype("int32"),
             labels) for texts, labels in arrays]


def load_tfds(name, seed=0, train_size=None):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise LabError(
            "tfds: data sets need tensorflow-datasets: pip install "
            "'keras-regkit[lab]'."
        ) from None
    if name not in tfds.list_builders():
        raise LabError(
            f"tfds:{name} is not a TensorFlow Datasets name; see "
            "tfds.list_builders() for the names this installation knows."
        )
    try:
        builder = tfds.builder(name)
        splits = set(builder.info.splits) or {"train", "test"}
        wanted = ["train", "test"] if "test" in splits else ["train"]
        loaded = tfds.load(name, split=wanted, as_supervised=True)
        arrays = [_to_arrays(tfds, part) for part in loaded]
    except Exception as error:  # tfds raises many kinds; report one line.
        first = str(error).strip().splitlines()[0] if str(error) else ""
        raise LabError(
            f"tfds:{name} could not be loaded ({type(error).__name__}: "
            f"{first})."
        ) from None
    if arrays[0][0].dtype.kind in "OSU":  # text: vectorized on train
        arrays = _vectorized(arrays)
    x = _as_inputs(arrays[0][0], f"tfds:{name}")
    y = _as_labels(arrays[0][1], len(x), f"tfds:{name}")
    test = None
    if len(arrays) > 1:
        x_test = _as_inputs(arrays[1][0], f"tfds:{name}")
        test = (x_test, _as_labels(arrays[1][1], len(x_test), f"tfds:{name}"))
    return _split(f"tfds:{name}", x, y, seed, train_size, test)


def load_dataset(spec="digits", seed=0, train_size=None, image_size=(32, 32)):
    """Loads the data set named by `spec` (what `--dataset` takes).

    Args:
        spec: `"digits"`, `"tfds:NAME"`, a path to a `.npz` file, or a folder
            with one sub-folder of images per class.
        seed: int, fixes the shuffle and the splits.
        train_size: int or None: keep only this many training images (a
            small training set makes overfitting visible).
        image_size: (height, width) images in a folder are resized to.

    Returns:
        A `LabData`.

    Raises:
        LabError: the spec names nothing readable, or the data has the wrong
            shapes.
    """
    if train_size is not None and train_size < 2:
        raise LabError(f"--train-size must be >= 2; got {train_size}.")
    if spec == "digits":
        return load_digits_data(seed, train_size)
    if spec.startswith("tfds:"):
        return load_tfds(spec[len("tfds:"):], seed, train_size)
    if spec.endswith(".npz"):
        if not os.path.isfile(spec):
            raise LabError(f"--dataset {spec}: no such file.")
        return load_npz(spec, seed, train_size)
    if os.path.isdir(spec):
        return load_folder(spec, seed, train_size, image_size)
    raise LabError(
        f"--dataset {spec!r} is not a data set. Allowed: "
        f"{'; '.join(SOURCES)}."
    )
