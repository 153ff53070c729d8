"""A small synthetic text classification data set that overfits visibly.

Sequences of token ids (0 is padding, 1 unknown, words from 2): each class
has a few "signal" words; a sequence of class k holds a few of class k's
signal words among many random ones, and 15% of the labels are flipped, so
a model that memorizes the training sequences fits their noise too.
"""

import numpy as np

VOCABULARY = 300
LENGTH = 40
CLASSES = 2
SIGNAL_WORDS = 8


def make_token_data(n=700, seed=0):
    """`(x, y)`: int32 ids `(n, LENGTH)` with trailing padding, int labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, size=n)
    x = rng.integers(2 + CLASSES * SIGNAL_WORDS, VOCABULARY,
                     size=(n, LENGTH))
    for i in range(n):
        signal = 2 + y[i] * SIGNAL_WORDS + rng.integers(0, SIGNAL_WORDS, 3)
        x[i, rng.choice(LENGTH // 2, size=3, replace=False)] = signal
        x[i, rng.integers(LENGTH // 2, LENGTH):] = 0  # padding
    flip = rng.random(n) < 0.15
    y[flip] = 1 - y[flip]
    return x.astype("int32"), y


def write_token_npz(path, n=700, seed=0):
    x, y = make_token_data(n, seed)
    np.savez(path, x=x, y=y)
    return path
