"""The training losses against the original's values (golden/losses.npz) and a numpy oracle."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from kind_tf import losses

RTOL = 1e-5


# A direct numpy transcription of the original utils/train-script formulas, to check the port
# on shapes the golden file does not cover.
def np_gradient(x, direction):
    kernel = np.array([[0, 0], [-1, 1]], np.float64)
    if direction == "y":
        kernel = kernel.T
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 1), (0, 1), (0, 0)))
    height, width = x.shape[1:3]
    g = np.abs(sum(kernel[a, b] * padded[:, a:a + height, b:b + width]
                   for a in range(2) for b in range(2)))
    return (g - g.min()) / (g.max() - g.min() + 1e-4)


def np_gray(image):
    return (image.astype(np.float64) @ np.array([0.2989, 0.5870, 0.1140]))[..., None]


def np_ssim_channel(a, b, size=11, sigma=1.5):
    coords = np.arange(-size // 2 + 1, size // 2 + 1)
    x, y = np.meshgrid(coords, coords, indexing="ij")
    window = np.exp(-(x**2 + y**2) / (2.0 * sigma**2))
    window /= window.sum()

    def filt(image):  # conv2d 'VALID' of (B, H, W) with the window
        views = np.lib.stride_tricks.sliding_window_view(image, (size, size), axis=(1, 2))
        return np.einsum("bhwij,ij->bhw", views, window)

    a, b = a.astype(np.float64), b.astype(np.float64)
    mu1, mu2 = filt(a), filt(b)
    s1, s2, s12 = filt(a * a) - mu1**2, filt(b * b) - mu2**2, filt(a * b) - mu1 * mu2
    c1, c2 = 0.01**2, 0.03**2
    return np.mean((2 * mu1 * mu2 + c1) * (2 * s12 + c2)
                   / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2)))


def np_decom_loss(low, high, r_low, l_low, r_high, l_high):
    def mutual(a, b):
        gx = np_gradient(a, "x") + np_gradient(b, "x")
        gy = np_gradient(a, "y") + np_gradient(b, "y")
        return np.mean(gx * np.exp(-10 * gx) + gy * np.exp(-10 * gy))

    def input_mutual(i, image):
        gray = np_gray(image)
        return np.mean(np.abs(np_gradient(i, "x") / np.maximum(np_gradient(gray, "x"), 0.01))
                       + np.abs(np_gradient(i, "y") / np.maximum(np_gradient(gray, "y"), 0.01)))

    terms = {
        "recon_low": np.mean(np.abs(r_low * l_low - low)),
        "recon_high": np.mean(np.abs(r_high * l_high - high)),
        "equal_R": np.mean(np.abs(r_low - r_high)),
        "i_mutual": mutual(l_low, l_high),
        "i_input_mutual_high": input_mutual(l_high, high),
        "i_input_mutual_low": input_mutual(l_low, low),
    }
    terms["total"] = (terms["recon_high"] + terms["recon_low"] + 0.01 * terms["equal_R"]
                      + 0.2 * terms["i_mutual"] + 0.15 * terms["i_input_mutual_high"]
                      + 0.15 * terms["i_input_mutual_low"])
    return terms


def np_grad_loss(a, b):
    return np.mean((np_gradient(a, "x") - np_gradient(b, "x")) ** 2
                   + (np_gradient(a, "y") - np_gradient(b, "y")) ** 2)


def np_restoration_loss(output, target):
    terms = {
        "square": np.mean((output.astype(np.float64) - target) ** 2),
        "grad": np_grad_loss(np_gray(output), np_gray(target)),
        "ssim": 1 - np.mean([np_ssim_channel(output[..., c], target[..., c]) for c in range(3)]),
    }
    terms["total"] = terms["square"] + terms["grad"] + terms["ssim"]
    return terms


def np_adjust_loss(output, target):
    terms = {"square": np.mean((output.astype(np.float64) - target) ** 2),
             "grad": np_grad_loss(output, target)}
    terms["total"] = terms["square"] + terms["grad"]
    return terms


def assert_terms_close(actual, expected, rtol=RTOL):
    assert set(actual) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(float(actual[name]), value, rtol=rtol, err_msg=name)


def test_gradient_matches_golden(golden):
    g = golden("losses")
    for direction in ("x", "y"):
        np.testing.assert_allclose(
            losses.gradient(g["prim_gradient_in"], direction), g[f"prim_gradient_{direction}"],
            atol=1e-6,
        )


def test_gradient_index_semantics():
    # gx[i, j] = |x[i+1, j+1] - x[i+1, j]|, zero past the border, before normalization.
    x = np.zeros((1, 3, 4, 1), np.float32)
    x[0, 1, 2, 0] = 1.0
    expected_x = np.zeros((3, 4))
    expected_x[0, 1], expected_x[0, 2] = 1, 1  # from x[1, 2] - x[1, 1] and x[1, 3] - x[1, 2]
    np.testing.assert_allclose(losses.gradient(x, "x")[0, ..., 0], expected_x / (1 + 1e-4))
    expected_y = np.zeros((3, 4))
    expected_y[0, 1], expected_y[1, 1] = 1, 1
    np.testing.assert_allclose(losses.gradient(x, "y")[0, ..., 0], expected_y / (1 + 1e-4))


def original_tf_gradient(x, direction):
    """The original `utils.gradient`, TF ops as written there (conv2d with the 2x2 kernel)."""
    kernel_x = tf.reshape(tf.constant([[0, 0], [-1, 1]], tf.float32), [2, 2, 1, 1])
    kernel = kernel_x if direction == "x" else tf.transpose(kernel_x, [1, 0, 2, 3])
    magnitude = tf.abs(tf.nn.conv2d(x, kernel, strides=[1, 1, 1, 1], padding="SAME"))
    low, high = tf.reduce_min(magnitude), tf.reduce_max(magnitude)
    return (magnitude - low) / (high - low + 0.0001)


@pytest.mark.parametrize("direction", ["x", "y"])
def test_gradient_and_its_derivative_are_the_originals(direction):
    x = tf.Variable(np.random.default_rng(3).random((3, 9, 14, 1), dtype=np.float32))
    upstream = tf.constant(np.random.default_rng(4).random((3, 9, 14, 1), dtype=np.float32))
    derivatives = []
    for function in (losses.gradient, original_tf_gradient):
        with tf.GradientTape() as tape:
            value = function(x, direction)
            weighted = tf.reduce_sum(value * upstream)
        derivatives.append(tape.gradient(weighted, x).numpy())
        if function is losses.gradient:
            ours = value.numpy()
    np.testing.assert_array_equal(ours, value.numpy())
    np.testing.assert_allclose(derivatives[0], derivatives[1], rtol=1e-6, atol=1e-7)


def test_gradient_rejects_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        losses.gradient(np.zeros((1, 4, 4, 1), np.float32), "z")


def test_decom_loss_matches_golden(golden):
    g = golden("losses")
    terms = losses.decom_loss(
        g["decom_input_low"], g["decom_input_high"], g["decom_R_low"], g["decom_I_low"],
        g["decom_R_high"], g["decom_I_high"],
    )
    expected = {
        "recon_low": g["decom_recon_loss_low"], "recon_high": g["decom_recon_loss_high"],
        "equal_R": g["decom_equal_R_loss"], "i_mutual": g["decom_i_mutual_loss"],
        "i_input_mutual_high": g["decom_i_input_mutual_loss_high"],
        "i_input_mutual_low": g["decom_i_input_mutual_loss_low"], "total": g["decom_loss_Decom"],
    }
    assert_terms_close(terms, expected)


def test_illumination_prior_adds_its_weighted_term_to_the_original(golden):
    g = golden("losses")
    inputs = (g["decom_input_low"], g["decom_input_high"], g["decom_R_low"], g["decom_I_low"],
              g["decom_R_high"], g["decom_I_high"])
    original = losses.decom_loss(*inputs)
    assert "illumination_prior" not in original
    terms = losses.decom_loss(*inputs, prior_weight=0.5)
    # mean |L - max over the image's channels|, of the low and of the high image.
    expected = sum(
        np.mean(np.abs(g[f"decom_I_{side}"][..., 0] - g[f"decom_input_{side}"].max(axis=-1)))
        for side in ("low", "high"))
    np.testing.assert_allclose(terms["illumination_prior"], expected, rtol=1e-6)
    np.testing.assert_allclose(terms["total"], original["total"] + 0.5 * expected, rtol=1e-6)
    for name in original:
        if name != "total":
            np.testing.assert_array_equal(terms[name], original[name])


def test_illumination_prior_offset_raises_the_target_up_to_1():
    image = np.zeros((1, 2, 2, 3), np.float32)
    image[0, 0, 0] = [0.2, 0.5, 0.1]  # max 0.5: target 0.55
    image[0, 1, 1] = [0.98, 0.3, 0.3]  # max 0.98: target 1, not 1.03
    illumination = np.full((1, 2, 2, 1), 0.5, np.float32)
    # |0.5 - 0.55| + |0.5 - 1| + 2 x |0.5 - 0.05|, over 4 pixels.
    np.testing.assert_allclose(losses.illumination_prior(illumination, image, offset=0.05),
                               (0.05 + 0.5 + 0.9) / 4, rtol=1e-6)
    np.testing.assert_allclose(losses.illumination_prior(illumination, image),
                               (0.0 + 0.48 + 1.0) / 4, rtol=1e-6)


def test_restoration_loss_matches_golden(golden):
    g = golden("losses")
    terms = losses.restoration_loss(g["restoration_output_r"], g["restoration_input_high_r"])
    expected = {
        "square": g["restoration_loss_square"], "grad": g["restoration_loss_grad"],
        "ssim": g["restoration_loss_ssim"], "total": g["restoration_loss_restoration"],
    }
    assert_terms_close(terms, expected)


def test_adjust_loss_matches_golden(golden):
    g = golden("losses")
    # The original feeds the low illumination with its ratio map; the loss only sees output.
    terms = losses.adjust_loss(g["adjust_output_i"], g["adjust_input_high_i"])
    expected = {"square": g["adjust_loss_square"], "grad": g["adjust_loss_grad"],
                "total": g["adjust_loss_adjust"]}
    assert_terms_close(terms, expected)


@pytest.mark.parametrize("batch, height, width", [(1, 48, 48), (3, 40, 56), (5, 23, 17)])
def test_losses_match_original_formulas_on_other_shapes(batch, height, width):
    rng = np.random.default_rng(batch * 1000 + height)

    def uniform(channels):
        return rng.random((batch, height, width, channels), dtype=np.float32)

    high = uniform(3)
    low = np.float32(high * 0.15 + 0.02 * uniform(3))
    decom_inputs = (low, high, uniform(3), uniform(1), uniform(3), uniform(1))
    assert_terms_close(losses.decom_loss(*decom_inputs), np_decom_loss(*decom_inputs))
    output, target = uniform(3), uniform(3)
    assert_terms_close(losses.restoration_loss(output, target),
                       np_restoration_loss(output, target))
    assert_terms_close(losses.adjust_loss(output[..., :1], target[..., :1]),
                       np_adjust_loss(output[..., :1], target[..., :1]))


def test_losses_are_differentiable_and_finite():
    rng = np.random.default_rng(0)
    output = tf.Variable(rng.random((2, 24, 24, 3), dtype=np.float32))
    target = rng.random((2, 24, 24, 3), dtype=np.float32)
    with tf.GradientTape() as tape:
        total = losses.restoration_loss(output, target)["total"]
    gradient = tape.gradient(total, output)
    assert np.all(np.isfinite(gradient)) and np.any(gradient != 0)


# Decom loss and its gradient on one batch of 4: on one device, and split over 2 replicas of
# MirroredStrategy on 2 logical CPUs (set up before TensorFlow starts, hence a subprocess).
MIRRORED_DECOM_LOSS = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
from kind_tf import losses

rng = np.random.default_rng(0)
low, high = rng.random((2, 4, 10, 12, 3), dtype=np.float32)
offset = rng.random((1, 10, 12, 1), dtype=np.float32)

def total(variable, low, high):
    r_low, r_high = low * 0.9, high * 0.8  # reflectances; the illuminations depend on variable
    l_low = tf.reduce_mean(low, -1, keepdims=True) * variable
    l_high = tf.reduce_max(high, -1, keepdims=True) + variable
    return losses.decom_loss(low, high, r_low, l_low, r_high, l_high)["total"]

variable = tf.Variable(offset)
with tf.GradientTape() as tape:
    single = total(variable, low, high)
single_gradient = tape.gradient(single, variable)

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored_variable = tf.Variable(offset)

def replica_step(batch):
    with tf.GradientTape() as tape:
        value = total(mirrored_variable, *batch)
        # As StageTrainer.train_step: the replicas' gradients are summed.
        scaled = value / strategy.num_replicas_in_sync
    return value, tape.gradient(scaled, mirrored_variable)

batch = next(iter(strategy.experimental_distribute_dataset(
    tf.data.Dataset.from_tensors((low, high)))))
values, gradients = tf.function(lambda b: strategy.run(replica_step, args=(b,)))(batch)
mirrored = strategy.reduce("MEAN", values, None)
mirrored_gradient = strategy.reduce("SUM", gradients, None)
print(json.dumps({
    "single": float(single), "mirrored": float(mirrored),
    "gradient_scale": float(np.abs(single_gradient).max()),
    "gradient_difference": float(np.abs(single_gradient - mirrored_gradient).max()),
}))
"""


def test_mirrored_replicas_normalize_over_the_global_batch():
    result = subprocess.run([sys.executable, "-c", MIRRORED_DECOM_LOSS, REPO_ROOT],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(values["mirrored"], values["single"], rtol=1e-6)
    assert values["gradient_scale"] > 1e-3
    assert values["gradient_difference"] <= 1e-5 * values["gradient_scale"]


# The original utils.py `_tf_fspecial_gauss` and `tf_ssim` (mean_metric, no cs_map) and the
# restoration script's `ssim_loss`, verbatim but for names, run as a TF1 graph.
def original_ssim_loss_graph(output_r, input_high_r):
    v1 = tf.compat.v1

    def _tf_fspecial_gauss(size, sigma):
        x_data, y_data = np.mgrid[-size//2 + 1:size//2 + 1, -size//2 + 1:size//2 + 1]
        x_data = np.expand_dims(np.expand_dims(x_data, axis=-1), axis=-1)
        y_data = np.expand_dims(np.expand_dims(y_data, axis=-1), axis=-1)
        x = tf.constant(x_data, dtype=tf.float32)
        y = tf.constant(y_data, dtype=tf.float32)
        g = tf.exp(-((x**2 + y**2)/(2.0*sigma**2)))
        return g / tf.reduce_sum(g)

    def tf_ssim(img1, img2, size=11, sigma=1.5):
        window = _tf_fspecial_gauss(size, sigma)
        C1, C2 = (0.01*1)**2, (0.03*1)**2
        mu1 = tf.nn.conv2d(img1, window, strides=[1, 1, 1, 1], padding='VALID')
        mu2 = tf.nn.conv2d(img2, window, strides=[1, 1, 1, 1], padding='VALID')
        mu1_sq, mu2_sq, mu1_mu2 = mu1*mu1, mu2*mu2, mu1*mu2
        sigma1_sq = tf.nn.conv2d(img1*img1, window, strides=[1, 1, 1, 1], padding='VALID') - mu1_sq
        sigma2_sq = tf.nn.conv2d(img2*img2, window, strides=[1, 1, 1, 1], padding='VALID') - mu2_sq
        sigma12 = tf.nn.conv2d(img1*img2, window, strides=[1, 1, 1, 1], padding='VALID') - mu1_mu2
        value = ((2*mu1_mu2 + C1)*(2*sigma12 + C2))/((mu1_sq + mu2_sq + C1)*(sigma1_sq + sigma2_sq + C2))
        return tf.reduce_mean(value)

    with tf.Graph().as_default():
        out = v1.placeholder(tf.float32, output_r.shape)
        high = v1.placeholder(tf.float32, input_high_r.shape)
        ssim_r = sum(tf_ssim(out[:, :, :, c:c + 1], high[:, :, :, c:c + 1]) for c in range(3))
        loss_ssim = 1 - ssim_r / 3.0
        with v1.Session() as session:
            return session.run([loss_ssim, tf.gradients(loss_ssim, out)[0]],
                               {out: output_r, high: input_high_r})


def dark_lol_patches(lol_dir, batch=4, size=48):
    """Restoration-like (output, target) patches of LOL: the raw dark low images, high ** 1.2."""
    from PIL import Image

    names = sorted(os.listdir(os.path.join(lol_dir, "our485", "low")))[:batch]
    rng = np.random.default_rng(7)
    outputs, targets = [], []
    for name in names:
        low, high = (np.asarray(Image.open(os.path.join(lol_dir, "our485", side, name)),
                                np.float32) / 255 for side in ("low", "high"))
        y, x = rng.integers(0, low.shape[0] - size), rng.integers(0, low.shape[1] - size)
        outputs.append(low[y:y + size, x:x + size])
        targets.append(high[y:y + size, x:x + size] ** 1.2)
    return np.stack(outputs), np.stack(targets)


def test_restoration_ssim_and_its_gradient_are_the_originals_on_dark_patches(lol_dir):
    output, target = dark_lol_patches(lol_dir)
    expected_loss, expected_grad = original_ssim_loss_graph(output, target)

    @tf.function
    def loss_and_gradient(output, target):  # as the train step: a graph, a GradientTape
        with tf.GradientTape() as tape:
            tape.watch(output)
            loss = losses.restoration_loss(output, target)["ssim"]
        return loss, tape.gradient(loss, output)

    loss, grad = loss_and_gradient(tf.constant(output), tf.constant(target))
    # Same ops in the same order: the loss is bit-identical; the gradient differs only in the
    # order the tape sums its parts (6e-6 of its largest value), against 1e-4 for
    # `tf.image.ssim`'s one-pass variances on these patches.
    np.testing.assert_allclose(loss.numpy(), expected_loss, rtol=1e-7)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=0,
                               atol=2e-5 * np.abs(expected_grad).max())
