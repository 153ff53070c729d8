"""Random rectangular regions (not bounding boxes): their sizes and masks,
shared by RandomErasing, RandomResizedCrop and CutMix."""

import math

from keras import ops


def box_mask(top, left, box_height, box_width, height, width):
    """(B, H, W, 1) boolean mask of the per-image boxes (pixels, (B,) each;
    a pixel is inside when its centre is)."""
    rows = ops.arange(height, dtype="float32")[None, :, None, None] + 0.5
    cols = ops.arange(width, dtype="float32")[None, None, :, None] + 0.5

    def per_image(v):
        return ops.reshape(v, (-1, 1, 1, 1))

    top, left = per_image(top), per_image(left)
    return ((rows >= top) & (rows < top + per_image(box_height))
            & (cols >= left) & (cols < left + per_image(box_width)))


def box_size(u_area, u_aspect, scale, ratio, height, width):
    """`(box_height, box_width)` from uniforms: the area is a fraction in
    `scale` of the image's, the aspect ratio (width / height) log-uniform in
    `ratio`; each side is capped at the image's."""
    area = (scale[0] + (scale[1] - scale[0]) * u_area) * (height * width)
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    aspect = ops.exp(log_low + (log_high - log_low) * u_aspect)
    return (ops.minimum(ops.sqrt(area / aspect), float(height)),
            ops.minimum(ops.sqrt(area * aspect), float(width)))
