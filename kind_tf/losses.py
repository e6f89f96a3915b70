"""The training losses of the three KinD stages, term for term the original scripts'.

Each stage loss returns a dict of its named terms plus `total`, the value the original
minimizes. Every mean is over the whole batch tensor, as the original `tf.reduce_mean`s, and
`gradient` min-max normalizes over the whole batch: the losses are not per-sample means.
"""

import numpy as np
import tensorflow as tf


def gradient(x, direction):
    """The original `utils.gradient`: min-max normalized |2x2 finite difference| of (B,H,W,1).

    The original convolves with `[[0, 0], [-1, 1]]` ('x') or its transpose ('y'), 'SAME'
    padding (one zero row/column at the bottom/right), so gx[i, j] = |x[i+1, j+1] - x[i+1, j]|
    and gy[i, j] = |x[i+1, j+1] - x[i, j+1]| with zeros past the border (a spurious edge on
    the last column/row, kept). The subtraction below is bit-identical to that convolution.
    The result is `(g - min) / (max - min + 1e-4)` over the WHOLE tensor, all batch items
    together (and all replicas' batches under a distribution strategy).
    """
    if direction not in ("x", "y"):
        raise ValueError(f"gradient direction must be 'x' or 'y', got {direction!r}")
    padded = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])
    # `tf.slice`, not `padded[:, 1:, ...]`: a slice's gradient is a Pad, a strided slice's a
    # StridedSliceGrad, 3x slower (8% of a bf16 DecomNet train step, bench/README.md).
    size = tf.shape(x)
    pixel = tf.slice(padded, [0, 1, 1, 0], size)
    neighbour = tf.slice(padded, [0, 1, 0, 0] if direction == "x" else [0, 0, 1, 0], size)
    magnitude = tf.abs(pixel - neighbour)
    low = _over_all_replicas(tf.reduce_min(magnitude), tf.reduce_min)
    high = _over_all_replicas(tf.reduce_max(magnitude), tf.reduce_max)
    return (magnitude - low) / (high - low + 1e-4)


def _over_all_replicas(value, reduce):
    """`reduce` (`tf.reduce_min`/`max`) of the scalar `value` over every replica's batch.

    The original normalizes over its whole batch; data-parallel training (`--strategy
    mirrored`) gives each replica a slice of it, so the replicas' values are gathered
    (`all_gather` has a gradient): the loss and its gradient are then the whole batch's.
    Outside a multi-replica step this is `value`.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return reduce(context.all_gather(value[None], axis=0))


def _gradient_difference_loss(output, target):
    """mean((grad_x(out) - grad_x(tgt))^2 + (grad_y(out) - grad_y(tgt))^2), single channel."""
    x_loss = tf.square(gradient(output, "x") - gradient(target, "x"))
    y_loss = tf.square(gradient(output, "y") - gradient(target, "y"))
    return tf.reduce_mean(x_loss + y_loss)


def _mutual_illumination_loss(l_low, l_high):
    """Original `mutual_i_loss`: g * exp(-10 g) of the summed gradients of both illuminations."""
    gx = gradient(l_low, "x") + gradient(l_high, "x")
    gy = gradient(l_low, "y") + gradient(l_high, "y")
    return tf.reduce_mean(gx * tf.exp(-10 * gx) + gy * tf.exp(-10 * gy))


def _illumination_input_loss(illumination, image):
    """Original `mutual_i_input_loss`: |grad(L) / max(grad(gray image), 0.01)|, x plus y."""
    gray = tf.image.rgb_to_grayscale(image)
    x_loss = tf.abs(gradient(illumination, "x") / tf.maximum(gradient(gray, "x"), 0.01))
    y_loss = tf.abs(gradient(illumination, "y") / tf.maximum(gradient(gray, "y"), 0.01))
    return tf.reduce_mean(x_loss + y_loss)


def illumination_prior(illumination, image, offset=0.0):
    """mean |L - min(max over channels of the image + offset, 1)|: the illumination prior of
    LIME (Guo et al. 2017) and PairLIE, not in the original. With R <= 1, R * L = I needs
    L >= max_c I, and the authors' released DecomNet lands about 0.05 above it (eval15: mean
    L_low 0.22, max_c I 0.17); `offset` keeps R = I / L off the sigmoid's saturation at 1."""
    target = tf.minimum(tf.reduce_max(image, axis=-1, keepdims=True) + offset, 1.0)
    return tf.reduce_mean(tf.abs(illumination - target))


def decom_loss(input_low, input_high, R_low, L_low, R_high, L_high, prior_weight=None,
               prior_offset=0.0):
    """DecomNet loss of `decomposition_net_train.py`; images (B,H,W,3), L (B,H,W,1).

    `prior_weight` (a number or a scalar tensor; None: the original loss) adds
    `illumination_prior` of both images (with `prior_offset`), an option beyond the original.
    """
    terms = {
        "recon_low": tf.reduce_mean(tf.abs(R_low * L_low - input_low)),
        "recon_high": tf.reduce_mean(tf.abs(R_high * L_high - input_high)),
        "equal_R": tf.reduce_mean(tf.abs(R_low - R_high)),
        "i_mutual": _mutual_illumination_loss(L_low, L_high),
        "i_input_mutual_high": _illumination_input_loss(L_high, input_high),
        "i_input_mutual_low": _illumination_input_loss(L_low, input_low),
    }
    # Same weights and summation order as the original `loss_Decom`.
    terms["total"] = (
        terms["recon_high"]
        + terms["recon_low"]
        + 0.01 * terms["equal_R"]
        + 0.2 * terms["i_mutual"]
        + 0.15 * terms["i_input_mutual_high"]
        + 0.15 * terms["i_input_mutual_low"]
    )
    if prior_weight is not None:
        terms["illumination_prior"] = (illumination_prior(L_low, input_low, prior_offset)
                                       + illumination_prior(L_high, input_high, prior_offset))
        terms["total"] += prior_weight * terms["illumination_prior"]
    return terms


def _fspecial_gauss(size, sigma):
    """The original `_tf_fspecial_gauss`: MATLAB's fspecial('gaussian'), (size, size, 1, 1).

    Built with the original's float32 ops, so the window is bit-identical to its constant.
    """
    x_data, y_data = np.mgrid[-size // 2 + 1:size // 2 + 1, -size // 2 + 1:size // 2 + 1]
    x = tf.constant(x_data[..., None, None], tf.float32)
    y = tf.constant(y_data[..., None, None], tf.float32)
    g = tf.exp(-((x**2 + y**2) / (2.0 * sigma**2)))
    return g / tf.reduce_sum(g)


def ssim(img1, img2, size=11, sigma=1.5):
    """The original `utils.tf_ssim` of single-channel (B,H,W,1) images on [0, 1], op for op.

    Mean SSIM over every 'VALID' window position and batch item. It filters x*x, y*y and x*y
    each on its own and subtracts each mean product, as the original: `tf.image.ssim`, equal in
    exact arithmetic, rounds differently where the variances cancel (dark, flat patches: 1e-5
    relative on the loss, 8e-5 on its gradient).
    """
    window = _fspecial_gauss(size, sigma)
    c1, c2 = 0.01**2, 0.03**2

    def filtered(image):
        return tf.nn.conv2d(image, window, strides=[1, 1, 1, 1], padding="VALID")

    mu1, mu2 = filtered(img1), filtered(img2)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = filtered(img1 * img1) - mu1_sq
    sigma2_sq = filtered(img2 * img2) - mu2_sq
    sigma12 = filtered(img1 * img2) - mu1_mu2
    value = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    )
    return tf.reduce_mean(value)


def restoration_loss(output, target):
    """Restoration loss of `reflectance_restoration_net_train.py`; (B,H,W,3), H, W >= 11.

    `ssim` is 1 - the mean of the three channels' `ssim`, summed in the original's order.
    """
    channel_ssim = [ssim(output[..., c:c + 1], target[..., c:c + 1]) for c in range(3)]
    terms = {
        "square": tf.reduce_mean(tf.square(output - target)),
        "grad": _gradient_difference_loss(
            tf.image.rgb_to_grayscale(output), tf.image.rgb_to_grayscale(target)
        ),
        "ssim": 1 - (channel_ssim[0] + channel_ssim[1] + channel_ssim[2]) / 3.0,
    }
    terms["total"] = terms["square"] + terms["grad"] + terms["ssim"]
    return terms


def adjust_loss(output, target):
    """Illumination adjustment loss of `adjustment_net_train.py`; (B,H,W,1)."""
    terms = {
        "square": tf.reduce_mean(tf.square(output - target)),
        "grad": _gradient_difference_loss(output, target),
    }
    terms["total"] = terms["square"] + terms["grad"]
    return terms
