"""One set of constructor arguments per augmentation layer, shared by tests."""

from keras_regkit import layers

# (class, kwargs, output (height, width) for a 16x16 input or None)
CASES = [
    (layers.RandomFlip, {}, None),
    (layers.RandomRotation, {"factor": 0.1}, None),
    (layers.RandomZoom, {"height_factor": 0.2, "width_factor": (-0.1, 0.3)},
     None),
    (layers.RandomTranslation, {"height_factor": 0.1, "width_factor": 0.2},
     None),
    (layers.RandomShear, {"x_factor": 0.2, "y_factor": 0.1}, None),
    (layers.RandomAffine, {"rotation_factor": 0.1, "zoom_height_factor": 0.1,
                           "translation_width_factor": 0.1,
                           "shear_x_factor": 0.1}, None),
    (layers.RandomPerspective, {"scale": 0.3}, None),
    (layers.RandomCrop, {"height": 12, "width": 10}, (12, 10)),
    (layers.RandomResizedCrop, {"height": 12, "width": 12}, (12, 12)),
    (layers.RandomErasing, {}, None),
    (layers.RandomBrightness, {"factor": 0.2}, None),
    (layers.RandomContrast, {"factor": 0.3}, None),
    (layers.RandomSaturation, {"factor": 0.7}, None),
    (layers.RandomHue, {"factor": 0.2}, None),
    (layers.RandomGrayscale, {}, None),
    (layers.MixUp, {}, None),
    (layers.CutMix, {}, None),
    (layers.RandAugment, {}, None),
    (layers.TrivialAugment, {}, None),
    (layers.AugMix, {}, None),
    (layers.RandomElasticTransform, {"factor": (1.0, 1.0)}, None),
    (layers.Mosaic, {}, None),
]

IDS = [case[0].__name__ for case in CASES]


def make(cls, kwargs, seed=1, **extra):
    return cls(**kwargs, seed=seed, **extra)


def every_layer(x):
    """`x` (16x16 images) through every augmentation layer in one chain:
    the size-keeping ones, then the crops (to 12x12) and an `Augment`."""
    for cls, kwargs, size in CASES:
        if size is None:
            x = make(cls, kwargs)(x)
    x = layers.RandomResizedCrop(14, 14, seed=2)(x)
    x = layers.RandomCrop(12, 12, seed=3)(x)
    return layers.Augment([layers.RandomFlip(seed=4),
                           layers.RandomRotation(0.1, seed=5)])(x)
