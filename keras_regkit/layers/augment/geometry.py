"""Affine resampling with gathers: the one pass every geometric layer uses.

Keras's geometric layers call `ImageProjectiveTransformV3`, which XLA cannot
compile. Here a transform is a batch of 3x3 matrices that map an *output*
pixel `(x, y, 1)` (x = column, y = row, pixel centres at integers) to the
*input* pixel it samples, the convention of Keras's `affine_transform`. The
resampler computes every output pixel's source coordinates with one matrix
product and reads its neighbours with flat gathers, which every backend and
XLA compile. Because the maps compose by matrix product, a stack of
geometric layers costs one resampling (see `Augment`).

Source coordinates within 1e-4 pixel of an integer are snapped to it: that
makes flips, 90-degree rotations and integer translations exact despite
float32 round-off in `cos` and `sin`, and changes nothing else.
"""

import keras
import numpy as np
from keras import ops

from keras_regkit._compat import jax as jax_compat
from keras_regkit._fusion import computed_once

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")

_SNAP = 1e-4
_FLOAT_EXACT = 2.0 ** 23  # float32 integers stay exact through a fold


def _matrix(a0, a1, a2, b0, b1, b2):
    """(B, 3, 3) matrices from six (B,) rows of coefficients."""
    zeros = ops.zeros_like(a0)
    ones = ops.ones_like(a0)
    rows = [a0, a1, a2, b0, b1, b2, zeros, zeros, ones]
    return ops.reshape(ops.stack(rows, axis=-1), (-1, 3, 3))


def _about_center(m00, m01, m10, m11, height, width):
    """The linear map `[[m00, m01], [m10, m11]]` applied about the centre."""
    cx = (width - 1) / 2.0
    cy = (height - 1) / 2.0
    return _matrix(
        m00, m01, cx - m00 * cx - m01 * cy,
        m10, m11, cy - m10 * cx - m11 * cy,
    )


def identity(batch_size):
    """(B, 3, 3) identity matrices."""
    eye = ops.eye(3, dtype="float32")
    return ops.broadcast_to(eye[None], (batch_size, 3, 3))


def rotation(angles, height, width):
    """Rotation by `angles` (radians, counter-clockwise) about the centre."""
    cos, sin = ops.cos(angles), ops.sin(angles)
    return _about_center(cos, -sin, sin, cos, height, width)


def zoom(zoom_x, zoom_y, height, width):
    """Zoom about the centre; a factor above 1 samples a wider area (zooms
    out), as in Keras's `RandomZoom` (`zoom = 1 + factor`)."""
    zeros = ops.zeros_like(zoom_x)
    return _about_center(zoom_x, zeros, zeros, zoom_y, height, width)


def shear(shear_x, shear_y, height, width):
    """Shear about the centre: `x += shear_x * y`, `y += shear_y * x`."""
    ones = ops.ones_like(shear_x)
    return _about_center(ones, shear_x, shear_y, ones, height, width)


def translation(dx, dy):
    """Moves the content by `(dx, dy)` pixels (right and down)."""
    ones, zeros = ops.ones_like(dx), ops.zeros_like(dx)
    return _matrix(ones, zeros, -dx, zeros, ones, -dy)


def flip(horizontal, vertical, height, width):
    """Flips where the (B,) booleans are set."""
    sx = ops.where(horizontal, -1.0, 1.0)
    sy = ops.where(vertical, -1.0, 1.0)
    zeros = ops.zeros_like(sx)
    return _about_center(sx, zeros, zeros, sy, height, width)


def crop_and_resize(top, left, crop_height, crop_width, out_height,
                    out_width):
    """Samples the box at `(top, left)` of size `(crop_height, crop_width)`
    (pixels, (B,) each) onto an `out_height x out_width` grid, aligning
    pixel areas as `keras.ops.image.resize` does (half-pixel centres)."""
    scale_x = crop_width / out_width
    scale_y = crop_height / out_height
    zeros = ops.zeros_like(scale_x)
    return _matrix(
        scale_x, zeros, left + 0.5 * scale_x - 0.5,
        zeros, scale_y, top + 0.5 * scale_y - 0.5,
    )


def _square_to_quad(quad):
    """(B, 3, 3) projective maps of the unit square's corners (0, 0),
    (1, 0), (1, 1), (0, 1) onto `quad` `(B, 4, 2)` (same order), in closed
    form (Heckbert, 1989): explicit multiply-adds, no solve."""
    x0, y0 = quad[:, 0, 0], quad[:, 0, 1]
    x1, y1 = quad[:, 1, 0], quad[:, 1, 1]
    x2, y2 = quad[:, 2, 0], quad[:, 2, 1]
    x3, y3 = quad[:, 3, 0], quad[:, 3, 1]
    dx1, dx2, dx3 = x1 - x2, x3 - x2, x0 - x1 + x2 - x3
    dy1, dy2, dy3 = y1 - y2, y3 - y2, y0 - y1 + y2 - y3
    det = dx1 * dy2 - dx2 * dy1
    g = (dx3 * dy2 - dx2 * dy3) / det
    h = (dx1 * dy3 - dx3 * dy1) / det
    ones = ops.ones_like(x0)
    rows = [x1 - x0 + g * x1, x3 - x0 + h * x3, x0,
            y1 - y0 + g * y1, y3 - y0 + h * y3, y0,
            g, h, ones]
    return ops.reshape(ops.stack(rows, axis=-1), (-1, 3, 3))


def invert(matrices):
    """Inverses of `(B, 3, 3)` matrices (affine or projective) by the
    adjugate, with explicit multiply-adds (exact to float32 on any
    device); projective maps are normalized so the last entry is 1."""
    m = [[matrices[:, i, j] for j in range(3)] for i in range(3)]

    def cofactor(i, j):
        rows = [r for r in range(3) if r != i]
        cols = [c for c in range(3) if c != j]
        minor = (m[rows[0]][cols[0]] * m[rows[1]][cols[1]]
                 - m[rows[0]][cols[1]] * m[rows[1]][cols[0]])
        return minor if (i + j) % 2 == 0 else -minor

    # The inverse is adjugate / det, the adjugate's entry (i, j) being
    # cofactor (j, i). A projective map is defined up to scale, so divide
    # by the last entry instead (for affine maps it is det itself: the
    # exact inverse).
    adjugate = [[cofactor(j, i) for j in range(3)] for i in range(3)]
    scale = adjugate[2][2]
    return ops.reshape(ops.stack(
        [adjugate[i][j] / scale for i in range(3) for j in range(3)],
        axis=-1), (-1, 3, 3))


def perspective(start_points, end_points):
    """(B, 3, 3) projective maps taking each `start_points[b]` to
    `end_points[b]` (`(B, 4, 2)` pixel coordinates x, y; top-left,
    top-right, bottom-left, bottom-right, Keras's order)."""
    order = [0, 1, 3, 2]  # to the square's order: around the border
    start = ops.stack([start_points[:, i] for i in order], axis=1)
    end = ops.stack([end_points[:, i] for i in order], axis=1)
    # As matrices on points: S(end) @ inverse(S(start)).
    return compose(_square_to_quad(end), invert(_square_to_quad(start)))


def compose(first, second):
    """The matrix of applying `first`, then `second` (in that order).

    Written as multiply-adds, not `matmul`: GPUs and TPUs run float32
    matmuls at reduced precision by default (TF32, bfloat16), which would
    move pixels by a fraction of a pixel.
    """
    return ops.sum(first[..., :, :, None] * second[..., None, :, :], axis=-2)


def _fold(index, size, fill_mode):
    """Maps integer indices onto [0, size) by the fill mode; also returns
    whether the index was inside (used by "constant")."""
    inside = (index >= 0) & (index < size)
    if fill_mode == "reflect":  # d c b a | a b c d | d c b a
        period = ops.mod(index, 2 * size)
        index = ops.where(period < size, period, 2 * size - 1 - period)
    elif fill_mode == "wrap":  # a b c d | a b c d | a b c d
        index = ops.mod(index, size)
    else:  # "nearest" clamps; "constant" clamps, then masks.
        index = ops.clip(index, 0, size - 1)
    return index, inside


def _fold_exact_integers(value, size, fill_mode):
    """`_fold` for integer-valued float32 `value`: the same result in float
    arithmetic, which XLA:CPU vectorizes (integer `mod` it does not).
    Values are clipped to +-2**23 pixels first (far outside any image,
    where float32 coordinates have lost their fractions anyway)."""
    value = ops.clip(value, -_FLOAT_EXACT, _FLOAT_EXACT)
    inside = (value >= 0) & (value < size)
    if fill_mode in ("reflect", "wrap"):
        period = 2 * size if fill_mode == "reflect" else size
        value = _float_mod(value, period)
        if fill_mode == "reflect":
            value = ops.where(value < size, value, 2 * size - 1 - value)
    else:
        value = ops.clip(value, 0, size - 1)
    return value, inside


def _float_mod(value, period):
    """`value` modulo `period` in float arithmetic (vectorized by XLA:CPU),
    in `[0, period)`."""
    value = value - period * ops.floor(value / period)
    # The quotient may be off by one if a compiler multiplies by the
    # reciprocal; one period back or forth corrects it exactly.
    value = ops.where(value < 0, value + period, value)
    return ops.where(value >= period, value - period, value)


def rounded_to(values, dtype):
    """Float `values` as integer `dtype` images: rounded, clipped to the
    dtype's range, cast (uint8 images out of a float computation)."""
    info = np.iinfo(dtype)
    values = ops.clip(ops.round(values), float(info.min), float(info.max))
    return ops.cast(values, dtype)


def _take_nearest(flat, x, y, offsets, height, width, fill_mode,
                  fill_value):
    """Nearest-neighbour gather from `flat` `(B*H*W, C)` at source
    coordinates `x`, `y` `(B, P)`; any dtype, no arithmetic on values."""
    # floor(v + 0.5): ties round up, as TensorFlow's kernel does.
    y, x = ops.floor(y + 0.5), ops.floor(x + 0.5)
    if isinstance(height, int) and isinstance(width, int) \
            and height * width <= _FLOAT_EXACT:
        # Each image's pixel number in float32 (exact here), one cast.
        yi, y_in = _fold_exact_integers(y, height, fill_mode)
        xi, x_in = _fold_exact_integers(x, width, fill_mode)
        index = offsets + ops.cast(yi * width + xi, "int32")
    else:
        yi, y_in = _fold(ops.cast(y, "int32"), height, fill_mode)
        xi, x_in = _fold(ops.cast(x, "int32"), width, fill_mode)
        index = offsets + yi * width + xi
    if fill_mode != "constant":
        return ops.take(flat, computed_once(index), axis=0)
    # Outside points marked -1 in the index itself, so the gather does not
    # recompute where they are.
    index = computed_once(ops.where(y_in & x_in, index, -1))
    values = ops.take(flat, ops.maximum(index, 0), axis=0)
    return ops.where(ops.expand_dims(index >= 0, -1), values, fill_value)


def _source_coordinates(matrices, out_height, out_width, projective=False,
                        snap=True, axis_aligned=False):
    """Every output pixel's source `(x, y)`, each `(B, out_h * out_w)`;
    `projective` divides by the third coordinate (affine maps skip it).
    `snap=False` skips the snap to integers, which changes nothing for
    nearest sampling (a point within `_SNAP` of an integer rounds to it).
    `axis_aligned` (maps without rotation, shear or perspective) gives
    each output column's `x` `(B, 1, out_w)` and each row's `y`
    `(B, out_h, 1)` instead, which broadcast to every pixel."""
    if axis_aligned:
        rows = ops.cast(matrices, "float32")
        x = (rows[:, 0, 0:1] * ops.arange(out_width, dtype="float32")
             + rows[:, 0, 2:3])
        y = (rows[:, 1, 1:2] * ops.arange(out_height, dtype="float32")
             + rows[:, 1, 2:3])
        if snap:
            x, y = _snapped(x), _snapped(y)
        return x[:, None, :], y[:, :, None]
    ys, xs = ops.meshgrid(
        ops.arange(out_height, dtype="float32"),
        ops.arange(out_width, dtype="float32"),
        indexing="ij",
    )
    grid_x, grid_y = ops.reshape(xs, (-1,)), ops.reshape(ys, (-1,))
    # Multiply-adds, not einsum: exact to float32 whatever the backend's
    # default matmul precision (see `compose`).
    rows = ops.cast(matrices, "float32")[:, :, :, None]  # (B, 3, 3, 1)
    coords = (rows[:, :2, 0] * grid_x + rows[:, :2, 1] * grid_y
              + rows[:, :2, 2])
    if projective:
        coords = coords / (rows[:, 2:, 0] * grid_x + rows[:, 2:, 1] * grid_y
                           + rows[:, 2:, 2])
    if snap:
        coords = _snapped(coords)
    return coords[:, 0], coords[:, 1]


def _snapped(coords):
    """Coordinates within `_SNAP` of an integer moved onto it."""
    nearest_integer = ops.round(coords)
    return ops.where(ops.abs(coords - nearest_integer) < _SNAP,
                     nearest_integer, coords)


def resample_nearest(values, matrices, output_size=None, fill_mode="reflect",
                     fill_value=0, projective=False, axis_aligned=False):
    """Nearest-neighbour resampling of `(batch, height, width, channels)`
    `values` of any dtype (segmentation masks: class ids are copied, never
    interpolated or cast) under the same output-to-input `matrices` as
    `affine_transform`.

    Examples:

        >>> import numpy as np
        >>> masks = np.array([[[[1], [2]]]], "int32")  # one 1x2 mask
        >>> flip = np.array([[[-1, 0, 1], [0, 1, 0], [0, 0, 1]]], "float32")
        >>> ops.convert_to_numpy(resample_nearest(masks, flip))[0, 0, :, 0]
        array([2, 1], dtype=int32)
    """
    values = ops.convert_to_tensor(values)
    out_height, out_width = output_size or (values.shape[1], values.shape[2])
    if values.shape[0] == 0:
        return ops.zeros((0, out_height, out_width, values.shape[3]),
                         values.dtype)
    x, y = _source_coordinates(matrices, out_height, out_width, projective,
                               snap=False, axis_aligned=axis_aligned)
    return sample(values, x, y, (out_height, out_width), "nearest",
                  fill_mode, ops.cast(fill_value, values.dtype))


def affine_transform(images, matrices, output_size=None,
                     interpolation="bilinear", fill_mode="reflect",
                     fill_value=0.0, projective=False, axis_aligned=False):
    """Resamples `images` under per-image affine `matrices`.

    With `projective=True` the matrices may be projective (a last row other
    than `0 0 1`: `RandomPerspective`), and source coordinates are divided
    by the third one.

    Args:
        images: float or uint8 tensor `(batch, height, width, channels)`
            (uint8 comes out rounded to uint8).
        matrices: `(batch, 3, 3)` maps from output to input pixels.
        output_size: `(height, width)` of the output. Defaults to the input
            size.
        interpolation: `"bilinear"` or `"nearest"`. Defaults to
            `"bilinear"`.
        fill_mode: how points outside the input are filled: `"reflect"`,
            `"wrap"`, `"constant"` or `"nearest"`, as in Keras. Defaults to
            `"reflect"`.
        fill_value: value outside the input when `fill_mode="constant"`.
            Defaults to `0.0`.
        projective: whether the matrices may be projective. Defaults to
            `False`.
        axis_aligned: whether every matrix keeps rows as rows and columns
            as columns (flips, crops, zooms, translations: no rotation,
            shear or perspective); then each output row's source row and
            each column's source column are computed once instead of
            every pixel's (crops under TensorFlow's XLA: 15% faster).
            Defaults to `False`.

    Returns:
        `(batch, out_height, out_width, channels)` tensor, `images`' dtype.

    Examples:

        >>> import numpy as np
        >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        >>> m = rotation(ops.convert_to_tensor([3.14159265 / 2]), 4, 4)
        >>> y = affine_transform(x, m)
        >>> ops.convert_to_numpy(y)[0, :, :, 0].tolist()[0]
        [3.0, 7.0, 11.0, 15.0]
    """
    out_height, out_width = output_size or (images.shape[1],
                                            images.shape[2])
    if images.shape[0] == 0:  # an empty batch (static size): nothing to do
        return ops.zeros((0, out_height, out_width, images.shape[3]),
                         images.dtype)
    x, y = _source_coordinates(matrices, out_height, out_width, projective,
                               axis_aligned=axis_aligned)
    return sample(images, x, y, (out_height, out_width), interpolation,
                  fill_mode, fill_value)


def sample(images, x, y, output_size, interpolation="bilinear",
           fill_mode="reflect", fill_value=0.0, source=None):
    """Reads `images` `(batch, height, width, channels)` at source
    coordinates `x`, `y` (`(batch, out_h * out_w)` pixel positions, one
    per output pixel, row-major; or `(batch, 1, out_w)` and
    `(batch, out_h, 1)` for axis-aligned maps) with gathers: the resampler of
    `affine_transform`, for maps that are not matrices
    (`RandomElasticTransform`). Nearest sampling copies values of any dtype
    (masks); bilinear reads floats, or uint8 images, which come out
    rounded to uint8. `source` (int32, shaped as `x`) names the image each
    output pixel reads (`Mosaic`); by default its own.
    """
    shape = ops.shape(images)
    height, width, channels = shape[1], shape[2], shape[3]
    batch_size = shape[0]
    out_height, out_width = output_size
    flat = ops.reshape(images, (-1, channels))
    if source is None:  # (B, 1) or, for axis-aligned maps, (B, 1, 1)
        source = ops.reshape(ops.arange(batch_size, dtype="int32"),
                             (-1,) + (1,) * (len(x.shape) - 1))
    offsets = source * (height * width)
    if interpolation == "nearest":
        values = _take_nearest(flat, x, y, offsets, height, width, fill_mode,
                               ops.cast(fill_value, flat.dtype))
    else:
        corners, weights, outside = _bilinear_corners(
            x, y, offsets, height, width, fill_mode)
        fill = None if outside is None else outside * ops.cast(
            fill_value, "float32")
        if _bytes_packed(images):
            values = _blend_packed_bytes(flat, corners, weights, fill)
        else:
            values = _blend(flat, corners, weights)
            if fill is not None:
                values = values + ops.expand_dims(fill, -1)
            if keras.backend.standardize_dtype(images.dtype) == "uint8":
                values = rounded_to(values, "uint8")
    return ops.reshape(values, (batch_size, out_height, out_width, channels))


def _fold_coordinates(x, y, height, width, fill_mode):
    """`x`, `y` moved into the image by `fill_mode` (`"reflect"` or
    `"wrap"`) as positions, not neighbour indices: reflect mirrors about
    -0.5 and `size - 0.5` (the mirror between a border pixel and its
    reflection), wrap takes them modulo the size. Bilinear weights between
    the clamped (wrap: wrapped) neighbours of a folded position equal those
    between the folded neighbours of the position itself, and the folding
    happens once per point, vectorized (folding each neighbour inside the
    gathers cost a fifth of the resampling under TensorFlow's XLA).
    Both axes are folded as one `(B, 2, P)` tensor: XLA:CPU then computes
    them with the source coordinates instead of inside the gathers."""
    if len(x.shape) == 3:  # axis-aligned: a row of x, a column of y
        return (_fold_positions(x, float(width), fill_mode),
                _fold_positions(y, float(height), fill_mode))
    coords = ops.stack([x, y], axis=1)
    size = ops.reshape(ops.convert_to_tensor(
        [float(width), float(height)]), (1, 2, 1))
    coords = _fold_positions(coords, size, fill_mode)
    return coords[:, 0], coords[:, 1]


def _fold_positions(coords, size, fill_mode):
    """`_fold_coordinates` of one tensor, `size` broadcasting to it."""
    if fill_mode == "reflect":
        coords, period = coords + 0.5, 2.0 * size
    else:  # "wrap"
        period = size
    coords = _float_mod(ops.clip(coords, -_FLOAT_EXACT, _FLOAT_EXACT),
                        period)
    if fill_mode == "reflect":
        coords = ops.where(coords > size, period - coords, coords) - 0.5
    return coords


def _bilinear_corners(x, y, offsets, height, width, fill_mode):
    """The four neighbours' flat indices, their weights and (constant fill
    only, else None) the weight left to the fill value."""
    if fill_mode in ("reflect", "wrap"):
        x, y = _fold_coordinates(x, y, height, width, fill_mode)
    x0f, y0f = ops.floor(x), ops.floor(y)
    wx, wy = x - x0f, y - y0f
    left = ops.cast(x0f, "int32")
    upper = ops.cast(y0f, "int32")
    weights = [(1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy]
    outside = None
    if fill_mode == "wrap":  # positions in [0, size): the next one wraps
        x0, row0 = left, upper
        x1 = ops.where(left + 1 >= width, 0, left + 1)
        row1 = ops.where(upper + 1 >= height, 0, upper + 1)
    elif fill_mode == "reflect":  # positions in [-0.5, size - 0.5]
        x0, x1 = ops.maximum(left, 0), ops.minimum(left + 1, width - 1)
        row0, row1 = ops.maximum(upper, 0), ops.minimum(upper + 1,
                                                         height - 1)
    elif fill_mode == "nearest":  # clamped neighbours (no fold first:
        # clamping positions was 5% slower for crops under TF's XLA)
        x0, x1 = ops.clip(left, 0, width - 1), ops.clip(left + 1, 0,
                                                        width - 1)
        row0, row1 = ops.clip(upper, 0, height - 1), ops.clip(
            upper + 1, 0, height - 1)
    else:
        x0, x0_in = _fold(left, width, fill_mode)
        x1, x1_in = _fold(left + 1, width, fill_mode)
        row0, y0_in = _fold(upper, height, fill_mode)
        row1, y1_in = _fold(upper + 1, height, fill_mode)
        inside = [a & b for a in (y0_in, y1_in) for b in (x0_in, x1_in)]
        weights = [w * ops.cast(m, "float32")
                   for w, m in zip(weights, inside, strict=True)]
        outside = 1.0 - (weights[0] + weights[1] + weights[2] + weights[3])
    row0 = offsets + row0 * width
    row1 = offsets + row1 * width
    corners = [row0 + x0, row0 + x1, row1 + x0, row1 + x1]
    return corners, weights, outside


def _blend(flat, corners, weights):
    """Sum of the weighted rows of `flat` `(N, C)` at each corner."""
    values = None
    for index, weight in zip(corners, weights, strict=True):
        term = ops.cast(ops.take(flat, index, axis=0),
                        "float32") * ops.expand_dims(weight, -1)
        values = term if values is None else values + term
    return values


def _bytes_packed(images):
    """Whether to blend `images` as packed bytes: uint8 with up to three
    channels, traced by JAX for its CPU."""
    return (keras.backend.standardize_dtype(images.dtype) == "uint8"
            and isinstance(images.shape[3], int) and images.shape[3] <= 3
            and jax_compat.tracing_for_cpu(images))


def _blend_packed_bytes(flat, corners, weights, fill=None):
    """`_blend` for uint8 rows (plus `fill`, a weighted fill value per
    point, or None), rounded to uint8, with each pixel's
    channels read as one int32 word (byte c at bit 8c) and written back as
    one: XLA:CPU then runs the index arithmetic and the gathers once per
    pixel, not once per channel (JAX, 32x224x224x3: 2x faster).
    Under TensorFlow's XLA the same graph materializes every gather (1.5x
    slower), so it is JAX's only."""
    channels = flat.shape[1]
    words = ops.cast(flat, "int32")
    packed = None
    for c in range(channels):
        byte = ops.left_shift(words[:, c], 8 * c)
        packed = byte if packed is None else packed + byte
    packed = computed_once(packed)
    sums = [None] * channels
    for index, weight in zip(corners, weights, strict=True):
        word = ops.take(packed, index, axis=0)
        for c in range(channels):
            byte = ops.bitwise_and(ops.right_shift(word, 8 * c), 255)
            term = ops.cast(byte, "float32") * weight
            sums[c] = term if sums[c] is None else sums[c] + term
    out = None
    for c, total in enumerate(sums):
        total = total if fill is None else total + fill
        byte = ops.left_shift(ops.cast(ops.clip(ops.round(total), 0, 255),
                                       "int32"), 8 * c)
        out = byte if out is None else out + byte
    out = computed_once(out)
    return ops.cast(ops.stack(
        [ops.bitwise_and(ops.right_shift(out, 8 * c), 255)
         for c in range(channels)], axis=-1), "uint8")
