"""Fast counter-based random numbers for masks, in plain `keras.ops`.

`keras.random.uniform` on TensorFlow compiles, under XLA on CPU, to a
threefry generator far slower than in graph mode; that alone made Keras's
Dropout dozens of times slower with `jit_compile=True`. Dropout masks and
augmentation draws need uniform, independent-looking bits, not a
cryptographic stream, so we hash a counter instead: each element's index is
mixed with a per-call key (drawn from the layer's `SeedGenerator`, which
advances every call) by two rounds of MurmurHash3's 32-bit finalizer. It is
a handful of integer ops per element that every backend and XLA vectorize
well (the benchmarks page, "Measurements behind the design", has the
numbers).

On TensorFlow outside XLA (its default on CPU, `tf.data` functions, eager
calls) each of those integer ops runs by itself, and `uniform`, `normal`,
`gamma` and `keep_mask` draw from TensorFlow's fused Philox kernel
instead (`keras_regkit._compat.tensorflow`): same distributions, other
numbers, as Keras's own differ between backends. `bits_at` and
`uniform_at`, whose equal counters must give equal bits, always hash.

Not for cryptography; arrays must have fewer than 2**31 elements.
"""

import keras
from keras import ops

from keras_regkit._compat import tensorflow as tf_compat
from keras_regkit._compat import tf_data
from keras_regkit._fusion import kept_apart

_GOLDEN = 0x9E3779B9
_M1 = 0x85EBCA6B
_M2 = 0xC2B2AE35


def _wrap(x):
    """Keeps the low 32 bits. Keras's torch backend has no uint32
    arithmetic and computes it in int64, where products overflow 32 bits;
    elsewhere uint32 wraps by itself."""
    if keras.backend.backend() == "torch":
        return ops.bitwise_and(x, 0xFFFFFFFF)
    return x


def _u32(value):
    return _wrap(ops.cast(value, "uint32"))


def _fmix32(x):
    """MurmurHash3's finalizer: a bijection of uint32 with full avalanche."""
    x = ops.bitwise_xor(x, ops.right_shift(x, _u32(16)))
    x = _wrap(x * _u32(_M1))
    x = ops.bitwise_xor(x, ops.right_shift(x, _u32(13)))
    x = _wrap(x * _u32(_M2))
    return ops.bitwise_xor(x, ops.right_shift(x, _u32(16)))


def _seed_words(seed):
    """The two uint32 words of a SeedGenerator's next state (advancing it),
    or of an int seed."""
    if isinstance(seed, keras.random.SeedGenerator):
        state = tf_data.next_seed(seed)
        return _u32(state[0]), _u32(state[1])
    return _u32(int(seed) & 0xFFFFFFFF), _u32(0)


def _keys(seed, elements=None):
    """Two uint32 keys from a SeedGenerator (advancing it) or an int.

    For `elements` (a static count) of 65536 or more they are computed
    once: XLA:CPU would otherwise fuse the keys' dozen ops into every
    element's hash (GaussianDropout under JAX was slower than Keras's).
    Small draws (an augmentation's few numbers per image) do without."""
    high, low = _seed_words(seed)
    first = _fmix32(ops.bitwise_xor(high, _u32(0x3C6EF372)))
    second = _fmix32(_wrap(low * _u32(_GOLDEN) + first))
    if isinstance(elements, int) and elements >= 65536:
        return kept_apart(first, high), kept_apart(second, high)
    return first, second


def random_bits(shape, seed):
    """uint32 tensor of `shape` with hash-random bits."""
    size = 1
    for dim in shape:
        size = size * dim
    return ops.reshape(bits_at(ops.arange(size, dtype="int32"), seed), shape)


def bits_at(counters, seed):
    """Hash-random uint32 bits for given integer `counters` (any shape):
    equal counters get equal bits within one call, so a decision can be
    shared by every element with the same key (the same token id)."""
    elements = 1
    for dim in counters.shape:
        elements = elements * dim if isinstance(dim, int) else None
        if elements is None:
            break
    first, second = _keys(seed, elements)
    bits = _fmix32(_wrap(_u32(counters) * _u32(_GOLDEN) + second))
    return _fmix32(ops.bitwise_xor(bits, first))


def uniform_at(counters, seed):
    """float32 uniform in [0, 1) for given integer `counters`."""
    bits = ops.right_shift(bits_at(counters, seed), _u32(8))
    return ops.cast(bits, "float32") * (1.0 / 16777216.0)


def uniform(shape, seed):
    """float32 uniform in [0, 1) with 24 random bits, shaped `shape`.

    Args:
        shape: tuple of ints or scalar tensors.
        seed: a `keras.random.SeedGenerator` (advanced once per call) or an
            int (the same numbers every call).

    Examples:

        >>> u = uniform((1000,), seed=1)
        >>> 0.45 < float(keras.ops.mean(u)) < 0.55
        True
    """
    if tf_compat.without_xla():
        return tf_compat.uniform(shape, _seed_words(seed))
    size = 1
    for dim in shape:
        size = size * dim
    return ops.reshape(uniform_at(ops.arange(size, dtype="int32"), seed),
                       shape)


def keep_mask(shape, keep_prob, seed):
    """bool tensor of `shape`, each entry True with probability `keep_prob`
    (a float or scalar tensor in (0, 1]) independently: a dropout mask.

    Under XLA and on JAX and torch it is `uniform(shape, seed) < keep_prob`.
    On TensorFlow outside XLA it compares 16-bit halves of Philox bits with
    `keep_prob` rounded to a multiple of 1/65536 (at most 7.7e-6 away):
    a third of the time of a float per element.

    Examples:

        >>> mask = keep_mask((4000,), 0.75, seed=1)
        >>> 0.72 < float(keras.ops.mean(keras.ops.cast(mask, "float32"))) < 0.78
        True
    """
    if tf_compat.without_xla():
        return tf_compat.keep_mask(shape, keep_prob, _seed_words(seed))
    return uniform(shape, seed) < keep_prob


def normal(shape, seed):
    """float32 standard normal noise: the inverse normal CDF of one hashed
    uniform per number (`sqrt(2) * erfinv(2u - 1)`, u in (0, 1) with 24
    bits: |z| up to 5.4), or TensorFlow's Philox normal on TensorFlow
    outside XLA. (Box-Muller took two uniforms and a logarithm and cosine
    per number: 3x the time under JAX's XLA on CPU.)

    Examples:

        >>> z = normal((4000,), seed=2)
        >>> abs(float(keras.ops.mean(z))) < 0.1
        True
    """
    if tf_compat.without_xla():
        return tf_compat.normal(shape, _seed_words(seed))
    u = _open_uniform(shape, seed)
    return 1.4142135623730951 * ops.erfinv(2.0 * u - 1.0)


def _gamma_at_least_one(shape, concentration, uniforms, normals):
    """Marsaglia-Tsang for Gamma(k), k >= 1, over a fixed number of tries.

    `uniforms` and `normals` hold one row per try; the first accepted try is
    used. The acceptance rate is above 95% per try for k >= 1, so with 8 tries
    a draw falls back to the (still close) last proposal with probability
    below 1e-10.
    """
    if any(isinstance(d, int) and d == 0 for d in shape):
        # An empty batch: torch's min of nothing loses axes.
        return ops.zeros(shape)
    d = concentration - 1.0 / 3.0
    c = 1.0 / ops.sqrt(9.0 * d)
    v = (1.0 + c * normals) ** 3
    positive = v > 0.0
    safe_v = ops.where(positive, v, 1.0)
    accept = positive & (
        ops.log(ops.maximum(uniforms, 1e-30))
        < 0.5 * normals * normals + d - d * safe_v + d * ops.log(safe_v)
    )
    tries = accept.shape[0]
    # Index of the first accepted try (the last one if none was accepted).
    order = ops.arange(tries, dtype="int32")
    order = ops.reshape(order, (tries,) + (1,) * len(shape))
    # `initial` keeps an empty batch legal (Keras refuses an eager min of
    # an empty tensor without one).
    first = ops.min(ops.where(accept, order, tries - 1), axis=0,
                    initial=tries - 1)
    chosen = ops.take_along_axis(
        safe_v, ops.expand_dims(first, 0), axis=0
    )[0]
    return d * chosen


def _open_uniform(shape, seed):
    """float32 uniform in (0, 1), safe to take the log of."""
    if tf_compat.without_xla():
        return tf_compat.uniform(shape, _seed_words(seed),
                                   minval=2.0 ** -25)
    bits = random_bits(shape, seed)
    return (ops.cast(ops.right_shift(bits, _u32(8)), "float32") + 0.5) * (
        1.0 / 16777216.0)


def gamma(shape, concentration, seed, tries=8):
    """float32 Gamma(concentration, 1) draws; `concentration` > 0 may be a
    tensor (broadcast to `shape`), so a scheduled alpha never retraces.

    Examples:

        >>> g = gamma((4000,), 2.0, seed=3)
        >>> 1.9 < float(keras.ops.mean(g)) < 2.1
        True
    """
    concentration = ops.broadcast_to(
        ops.cast(concentration, "float32"), shape
    )
    u = _open_uniform((3 * tries + 1, *shape), seed)
    u1, u2, u3 = u[:tries], u[tries : 2 * tries], u[2 * tries : 3 * tries]
    normals = ops.sqrt(-2.0 * ops.log(u1)) * ops.cos(6.283185307179586 * u2)
    # Gamma(k) = Gamma(k + 1) * U ** (1 / k) covers k < 1 too.
    boosted = _gamma_at_least_one(shape, concentration + 1.0, u3, normals)
    return boosted * u[3 * tries] ** (1.0 / concentration)


def beta(shape, alpha, seed):
    """float32 Beta(alpha, alpha) draws (symmetric, as MixUp and CutMix use).

    `alpha` may be a tensor. At `alpha == 0` the draw is 1 (no mixing), the
    limit a schedule that ramps alpha up from 0 expects.

    Examples:

        >>> b = beta((4000,), 0.4, seed=4)
        >>> 0.45 < float(keras.ops.mean(b)) < 0.55
        True
    """
    alpha = ops.cast(alpha, "float32")
    safe = ops.maximum(alpha, 1e-3)
    pair = gamma((2, *shape), safe, seed)
    draw = pair[0] / ops.maximum(pair[0] + pair[1], 1e-30)
    return ops.where(alpha > 0.0, draw, ops.ones_like(draw))
