"""Data sets for the lab: bundled digits, synthetic tones, TFDS names,
`.npz` files, folders.

Every loader returns a `LabData`: float32 images in [0, 1] with a channel
axis, int32 token-id sequences `(N, T)` (text), or float32 waveforms
`(N, samples)` with their sample rate (audio), integer labels, and fixed
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
    "tones (synthetic audio)",
    "tfds:NAME",
    "a .npz file with arrays x and y (images, integer token ids (N, T), or "
    "waveforms (N, samples) with a sample_rate)",
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
    sample_rate: int = 0

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    @property
    def is_text(self):
        return self.vocabulary_size > 0

    @property
    def is_audio(self):
        return self.sample_rate > 0

    @property
    def kind(self):
        """`"images"`, `"text"` or `"audio"`: which recipes suit it."""
        return "text" if self.is_text else (
            "audio" if self.is_audio else "images")

    def describe(self):
        if self.is_audio:
            seconds = self.input_shape[0] / self.sample_rate
            return (
                f"{self.name}: {len(self.x_train)} train / {len(self.x_val)} "
                f"validation / {len(self.x_test)} test clips of "
                f"{seconds:g} s at {self.sample_rate} Hz, "
                f"{self.num_classes} classes"
            )
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


#: Longest clip the lab trains on; longer ones are cut, shorter padded.
MAX_AUDIO_SECONDS = 4.0
#: Shortest: clips are padded to at least this (the front end's frames).
MIN_AUDIO_SECONDS = 0.25


def _sample_rate(value, source):
    rate = np.asarray(value)
    if (rate.shape != () or not np.issubdtype(rate.dtype, np.number)
            or not float(rate).is_integer() or not 1000 <= rate <= 384_000):
        raise LabError(
            f"{source}: sample_rate must be one integer in Hz, 1000 to "
            f"384000; got {value!r}."
        )
    return int(rate)


def _as_waveforms(x, source):
    """float32 `(N, samples)`: int16 PCM scaled to [-1, 1), a channel axis
    of 1 dropped; NaN refused."""
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number) or (
            x.dtype == np.bool_):
        raise LabError(
            f"{source}: waveforms must be numbers of shape (N, samples) "
            f"(mono); got {x.dtype} {x.shape}."
        )
    if x.dtype == np.int16:
        x = x / 32768.0
    x = x.astype("float32", copy=False)
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise LabError(
            f"{source}: {bad} of {x.size} samples are NaN or infinite; fix "
            "or drop those clips (the lab does not train on them)."
        )
    return x


def _fixed_length(clips, sample_rate, length=None):
    """Clips of any length, padded with zeros (or cut) to `length` (None:
    the longest one, within `MIN_AUDIO_SECONDS` and `MAX_AUDIO_SECONDS`),
    as one `(N, samples)` array."""
    if length is None:
        longest = max(len(clip) for clip in clips)
        length = min(max(longest, int(MIN_AUDIO_SECONDS * sample_rate)),
                     int(MAX_AUDIO_SECONDS * sample_rate))
    out = np.zeros((len(clips), length), np.asarray(clips[0]).dtype)
    for row, clip in zip(out, clips, strict=True):
        clip = np.asarray(clip).reshape(-1)[:length]
        row[:len(clip)] = clip
    return out


TONES_RATE = 8000
TONE_CLASSES = ("rising chirp", "falling chirp", "low tone", "high tone",
                "two tones", "warble")


def make_tones(count=1200, seed=0, sample_rate=TONES_RATE, seconds=0.5):
    """A synthetic audio data set: six kinds of 0.1-0.35 s sound at a
    random onset and level, in noise (SNR -5 to 10 dB) and with random
    pitch offsets, so that a small training set is memorized before it is
    learnt.

    Returns:
        `(x, y)`: float32 waveforms `(count, seconds * sample_rate)` and
        int64 class ids in `[0, 6)` (`TONE_CLASSES`).

    Examples:

        >>> x, y = make_tones(12, seed=1)
        >>> x.shape, sorted(set(y.tolist())) == list(range(6))
        ((12, 4000), True)
    """
    rng = np.random.default_rng(seed)
    samples = int(seconds * sample_rate)
    y = np.arange(count) % len(TONE_CLASSES)
    rng.shuffle(y)
    x = np.zeros((count, samples), "float32")
    for row, label in zip(x, y, strict=True):
        duration = rng.uniform(0.1, 0.35)
        n = int(duration * sample_rate)
        t = np.arange(n) / sample_rate
        base = rng.uniform(300, 500) * 2 ** rng.uniform(-0.3, 0.3)
        if label in (0, 1):  # chirps, up or down by 1-2 octaves
            span = 2 ** rng.uniform(1, 2)
            start, end = (base, base * span) if label == 0 else (
                base * span, base)
            phase = 2 * np.pi * (start * t + (end - start) * t ** 2
                                 / (2 * duration))
        elif label == 4:  # two tones, one after the other
            second = base * 2 ** rng.uniform(0.5, 1.0)
            freq = np.where(t < duration / 2, base, second)
            phase = 2 * np.pi * np.cumsum(freq) / sample_rate
        elif label == 5:  # vibrato of 5-12 Hz
            rate, depth = rng.uniform(5, 12), rng.uniform(0.05, 0.15)
            freq = base * 2 * (1 + depth * np.sin(2 * np.pi * rate * t))
            phase = 2 * np.pi * np.cumsum(freq) / sample_rate
        else:  # steady, low or two octaves up
            phase = 2 * np.pi * base * (1 if label == 2 else 4) * t
        sound = np.sin(phase) * np.hanning(n)
        onset = rng.integers(0, samples - n)
        row[onset:onset + n] = sound * rng.uniform(0.3, 1.0)
        signal_power = np.mean(sound ** 2) * n / samples
        snr = rng.uniform(-5, 10)
        row += rng.normal(0, np.sqrt(signal_power / 10 ** (snr / 10)),
                          samples)
    return x, y.astype("int64")


def load_tones(seed=0, train_size=None):
    """`make_tones` as a lab data set (its own seed: the same clips for
    every `--seed`; the split follows the seed)."""
    x, y = make_tones()
    return _split("tones", x, y, seed, train_size, sample_rate=TONES_RATE)


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
            f"{source}: {n} examples but {len(y)} labels; they must match."
        )
    if len(y) and y.min() < 0:
        raise LabError(f"{source}: labels must be >= 0; got {y.min()}.")
    return y.astype("int64")


def _split(name, x, y, seed, train_size, test=None, sample_rate=0):
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
        max(vocabulary_size, 2) if vocabulary_size else 0, sample_rate,
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
            if "sample_rate" in keys:
                return _load_npz_audio(path, arrays, keys, seed, train_size)
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


def _check_long_enough(x, rate, source):
    if x.shape[1] < MIN_AUDIO_SECONDS * rate:
        raise LabError(
            f"{source}: clips of {x.shape[1]} samples are shorter than "
            f"{MIN_AUDIO_SECONDS:g} s at {rate} Hz; pad them with zeros to "
            f"at least {int(MIN_AUDIO_SECONDS * rate)} samples."
        )


def _load_npz_audio(path, arrays, keys, seed, train_size):
    """An audio `.npz`: waveforms `x` (or `x_train`/`x_test`) `(N, samples)`
    and a scalar `sample_rate`."""
    rate = _sample_rate(arrays["sample_rate"], path)
    if {"x", "y"} <= keys:
        x = _as_waveforms(arrays["x"], path)
        _check_long_enough(x, rate, path)
        y = _as_labels(arrays["y"], len(x), path)
        return _split(path, x, y, seed, train_size, sample_rate=rate)
    if {"x_train", "y_train", "x_test", "y_test"} <= keys:
        x = _as_waveforms(arrays["x_train"], path)
        _check_long_enough(x, rate, path)
        y = _as_labels(arrays["y_train"], len(x), path)
        x_test = _as_waveforms(arrays["x_test"], path)
        if x_test.shape[1] != x.shape[1]:
            raise LabError(
                f"{path}: x_train clips have {x.shape[1]} samples and "
                f"x_test clips {x_test.shape[1]}; pad them to one length."
            )
        y_test = _as_labels(arrays["y_test"], len(x_test), path)
        return _split(path, x, y, seed, train_size, (x_test, y_test),
                      sample_rate=rate)
    raise LabError(
        f"{path}: an audio .npz needs arrays 'x' and 'y' (or 'x_train', "
        f"'y_train', 'x_test', 'y_test') beside 'sample_rate'; it has "
        f"{sorted(keys)}."
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


def _tfds_sample_rate(builder):
    """The sample rate of a TFDS data set whose input is audio, else 0."""
    keys = builder.info.supervised_keys or ()
    feature = builder.info.features[keys[0]] if keys and isinstance(
        keys[0], str) else None
    return int(getattr(feature, "sample_rate", 0) or 0) if (
        type(feature).__name__ == "Audio") else 0


def _to_clips(tfds, dataset):
    """Clips of any length (a list of 1-D arrays) and their labels."""
    clips, labels = [], []
    for clip, label in tfds.as_numpy(dataset):
        clips.append(np.asarray(clip).reshape(-1))
        labels.append(label)
    if not clips:
        raise ValueError("no examples")
    return clips, np.asarray(labels)


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
        rate = _tfds_sample_rate(builder)
        arrays = [(_to_clips if rate else _to_arrays)(tfds, part)
                  for part in loaded]
    except Exception as error:  # tfds raises many kinds; report one line.
        first = str(error).strip().splitlines()[0] if str(error) else ""
        raise LabError(
            f"tfds:{name} could not be loaded ({type(error).__name__}: "
            f"{first})."
        ) from None
    as_inputs = _as_inputs
    if rate:  # audio: one length for every split, the training set's
        length = _fixed_length(arrays[0][0], rate).shape[1]
        arrays = [(_fixed_length(clips, rate, length), labels)
                  for clips, labels in arrays]
        as_inputs = _as_waveforms
    elif arrays[0][0].dtype.kind in "OSU":  # text: vectorized on train
        arrays = _vectorized(arrays)
    x = as_inputs(arrays[0][0], f"tfds:{name}")
    y = _as_labels(arrays[0][1], len(x), f"tfds:{name}")
    test = None
    if len(arrays) > 1:
        x_test = as_inputs(arrays[1][0], f"tfds:{name}")
        test = (x_test, _as_labels(arrays[1][1], len(x_test), f"tfds:{name}"))
    return _split(f"tfds:{name}", x, y, seed, train_size, test,
                  sample_rate=rate)


def load_dataset(spec="digits", seed=0, train_size=None, image_size=(32, 32)):
    """Loads the data set named by `spec` (what `--dataset` takes).

    Args:
        spec: `"digits"`, `"tones"` (synthetic audio), `"tfds:NAME"`, a
            path to a `.npz` file, or a folder with one sub-folder of
            images per class.
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
    if spec == "tones":
        return load_tones(seed, train_size)
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
