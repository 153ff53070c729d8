"""`keras-regkit preview`: a PNG grid of one image under an augmentation.

People would rather look than read: the grid shows the original and
`samples` draws of the pipeline (training mode), so a too-strong rotation
or a fill mode that paints black corners is obvious at a glance.
"""

import os

import numpy as np

from keras_regkit.lab.errors import LabError

#: The pipeline shown when none is given: a typical natural-image stack.
DEFAULT_PIPELINE = [
    {"class_name": "Augment", "config": {"layers": [
        {"class_name": "RandomFlip", "config": {"mode": "horizontal"}},
        {"class_name": "RandomRotation", "config": {"factor": 0.08}},
        {"class_name": "RandomZoom", "config": {"height_factor": 0.2}},
        {"class_name": "RandomTranslation",
         "config": {"height_factor": 0.1, "width_factor": 0.1}},
    ]}},
    {"class_name": "RandomBrightness", "config": {"factor": 0.2}},
    {"class_name": "RandomErasing", "config": {"factor": 0.5}},
]

BUNDLED_IMAGES = ("china", "flower")

#: The subject of each bundled photo for `--boxes`: its box (relative
#: x1, y1, x2, y2) and the shape of its mask inside the box.
SUBJECTS = {"china": ((0.09, 0.05, 0.58, 0.95), "box"),
            "flower": ((0.26, 0.19, 0.70, 0.85), "ellipse")}


def subject_mask(size, subject):
    """uint8 `(height, width, 1)` mask (1 on the subject) of a bundled
    photo resized to `size`."""
    (x1, y1, x2, y2), shape = subject
    height, width = size
    rows = (np.arange(height)[:, None] + 0.5) / height
    cols = (np.arange(width)[None, :] + 0.5) / width
    if shape == "ellipse":
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (
            y2 - y1) / 2
        inside = ((cols - cx) / rx) ** 2 + ((rows - cy) / ry) ** 2 <= 1
    else:
        inside = (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)
    return inside.astype("uint8")[..., None]


def load_image(name, size):
    """A bundled photo (scikit-learn's `china` or `flower`) or an image
    file, as a uint8 `(height, width, 3)` array resized to `size`."""
    import keras

    if name in BUNDLED_IMAGES:
        from sklearn.datasets import load_sample_image

        image = load_sample_image(f"{name}.jpg")
    elif os.path.isfile(name):
        image = keras.utils.img_to_array(
            keras.utils.load_img(name, color_mode="rgb")).astype("uint8")
    else:
        raise LabError(
            f"--image {name!r} is neither a bundled image "
            f"({', '.join(BUNDLED_IMAGES)}) nor an image file."
        )
    resized = keras.ops.image.resize(image[None].astype("float32"), size)
    return np.clip(keras.ops.convert_to_numpy(resized)[0], 0, 255).astype(
        "uint8")


def load_pipeline(spec):
    """Layers from a built-in recipe name (its `augment` list), a .json or
    .yaml file (a list of layer configs or a recipe), or None (default)."""
    from keras_regkit.lab import recipes as recipes_lib

    if spec is None:
        configs = DEFAULT_PIPELINE
    elif spec in recipes_lib.builtin_names():
        configs = recipes_lib.builtin(spec)["augment"]
        if not configs:
            raise LabError(f"recipe {spec!r} has no augmentation layers.")
    elif os.path.isfile(spec):
        configs = recipes_lib.read_file(spec, "pipeline", "--pipeline")
        if isinstance(configs, dict):
            configs = configs.get("augment", [configs])
    else:
        raise LabError(
            f"--pipeline {spec!r} is neither a built-in recipe "
            f"({', '.join(recipes_lib.builtin_names())}) nor a file."
        )
    if not isinstance(configs, list):
        raise LabError("a pipeline must be a list of layer configs.")
    return [recipes_lib.layer_from_config(c, "pipeline") for c in configs]


def write_preview(path, image, layers, samples=11, seed=0, columns=4,
                  value_range=(0, 255), subject=None):
    """Applies `layers` to `samples` copies of `image` and writes the grid
    (original first) to `path`. With `subject` (a `SUBJECTS` entry), the
    subject's box and mask go through the pipeline too and are drawn on
    every cell (box in yellow, mask outline in cyan). Returns the augmented
    batch (and, with a subject, its boxes and masks)."""
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keras.utils.set_random_seed(seed)
    low, high = value_range
    batch = np.repeat(image[None], samples, axis=0)
    x = batch.astype("float32") / 255.0 * (high - low) + low
    data = {"images": x}
    if subject is not None:
        mask = subject_mask(image.shape[:2], subject)
        data["segmentation_masks"] = np.repeat(mask[None], samples, axis=0)
        data["bounding_boxes"] = {
            "boxes": np.tile(np.array(subject[0], "float32"),
                             (samples, 1, 1)),
            "labels": np.ones((samples, 1), "int32")}
    for layer in layers:
        if subject is not None:
            layer.bounding_box_format = "rel_xyxy"
            check = getattr(layer, "_check_supports_boxes_and_masks", None)
            try:
                if check is not None:
                    check()
            except NotImplementedError as error:
                raise LabError(f"--boxes: {error}") from None
        data = layer(data, training=True)
    out = np.clip(keras.ops.convert_to_numpy(data["images"]), *value_range)
    out = ((out - value_range[0]) / (value_range[1] - value_range[0]))
    cells = [image / 255.0] + list(out)
    overlays = [None] * len(cells)
    if subject is not None:
        boxes = keras.ops.convert_to_numpy(data["bounding_boxes"]["boxes"])
        labels = keras.ops.convert_to_numpy(data["bounding_boxes"]["labels"])
        masks = keras.ops.convert_to_numpy(data["segmentation_masks"])
        overlays = [(np.array(subject[0]), 1, mask)] + [
            (boxes[i, 0], labels[i, 0], masks[i]) for i in range(samples)]
    rows = -(-len(cells) // columns)
    figure, axes = plt.subplots(rows, columns,
                                figsize=(3 * columns, 3 * rows * image.shape[0]
                                         / image.shape[1]))
    for index, axis in enumerate(np.ravel(axes)):
        axis.axis("off")
        if index < len(cells):
            axis.imshow(np.squeeze(cells[index]), cmap="gray")
            axis.set_title("original" if index == 0 else f"sample {index}",
                           fontsize=9)
            if overlays[index] is not None:
                _draw_subject(axis, *overlays[index], image.shape[:2])
    figure.suptitle(" -> ".join(type(layer).__name__ for layer in layers),
                    fontsize=10)
    figure.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    if subject is None:
        return out
    return out, boxes, masks


def _draw_subject(axis, box, label, mask, size):
    """The box (relative xyxy; skipped when its label is -1: it left the
    image) and the mask's outline (255 = outside the image, not drawn)."""
    import matplotlib.patches as patches

    height, width = size
    if label != -1:
        x1, y1, x2, y2 = box
        axis.add_patch(patches.Rectangle(
            (x1 * width - 0.5, y1 * height - 0.5), (x2 - x1) * width,
            (y2 - y1) * height, fill=False, edgecolor="yellow", linewidth=1.5))
    subject = (np.squeeze(mask, -1) == 1).astype(float)
    if subject.any():
        axis.contour(subject, levels=[0.5], colors="cyan", linewidths=1.0)
