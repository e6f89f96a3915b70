"""A same-machine baseline: the original KinD training steps as TF1 graphs, fed from Python.

The reference timings of the original (../shared/kind_reference/README.md) were taken on a
quieter machine; this rebuilds what `decomposition_net_train.py`,
`adjustment_net_train.py` and `reflectance_restoration_net_train.py` run per step (the same
nets with `tf.nn` ops, the same losses with the conv-based `gradient`, Adam, `sess.run` with a
feed_dict of patches cropped and augmented in numpy per step) so `bench_train.py` can report
a ratio measured in one sitting. Variables carry the original TF1 names and are created in
the original's order (`bench_enhance.py` loads the reference weights into these builders).
Run as a separate process (it disables eager execution):

    .venv/bin/python -m bench.original_step decom 10 48 20 3   # s/step, best of 3 x 20 steps
    .venv/bin/python -m bench.original_step script LOLdataset 100 /tmp/ckpt   # whole script
"""

import os
import random
import sys
import time

import numpy as np
import tensorflow as tf
from PIL import Image

from kind_tf import losses

tf.compat.v1.disable_eager_execution()
v1 = tf.compat.v1


def lrelu(x):
    return tf.maximum(x * 0.2, x)


def conv(name, x, filters, size=3, activation=lrelu):
    with v1.variable_scope(name):
        weights = v1.get_variable("weights", [size, size, x.shape[-1], filters],
                                  initializer=v1.glorot_uniform_initializer())
        biases = v1.get_variable("biases", [filters], initializer=v1.zeros_initializer())
    return activation(tf.nn.bias_add(tf.nn.conv2d(x, weights, 1, "SAME"), biases))


def upsample_concat(name, x, skip):
    filters = skip.shape[-1]
    with v1.variable_scope(name):
        weights = v1.get_variable("weights", [2, 2, filters, x.shape[-1]],
                                  initializer=v1.glorot_uniform_initializer())
    shape = tf.shape(skip)
    up = tf.nn.conv2d_transpose(x, weights, tf.stack([shape[0], shape[1], shape[2], filters]),
                                2, "SAME")
    return tf.concat([up, skip], 3)


def pool(x):
    return tf.nn.max_pool2d(x, 2, 2, "SAME")


def decom_net(image):
    # Called for low and high: AUTO_REUSE shares the weights, as the original.
    with v1.variable_scope("DecomNet", reuse=v1.AUTO_REUSE):
        conv1 = conv("g_conv1_1", image, 32)
        conv2 = conv("g_conv2_1", pool(conv1), 64)
        conv3 = conv("g_conv3_1", pool(conv2), 128)
        conv8 = conv("g_conv8_1", upsample_concat("g_up_1", conv3, conv2), 64)
        conv9 = conv("g_conv9_1", upsample_concat("g_up_2", conv8, conv1), 32)
        reflectance = conv("g_conv10", conv9, 3, 1, tf.sigmoid)
        l_conv2 = conv("l_conv1_2", conv1, 32)
        illumination = conv("l_conv1_4", tf.concat([l_conv2, conv9], 3), 1, 1, tf.sigmoid)
    return reflectance, illumination


def restoration_net(reflectance, illumination):
    with v1.variable_scope("Restoration_net"):
        x, skips = tf.concat([reflectance, illumination], 3), []
        for level, filters in enumerate((32, 64, 128, 256), start=1):
            x = conv(f"de_conv{level}_2", conv(f"de_conv{level}_1", x, filters), filters)
            skips.append(x)
            x = pool(x)
        x = conv("de_conv5_2", conv("de_conv5_1", x, 512), 512)
        for level, skip in zip((6, 7, 8, 9), reversed(skips)):
            x = upsample_concat(f"up_{level}", x, skip)
            filters = skip.shape[-1]
            x = conv(f"de_conv{level}_2", conv(f"de_conv{level}_1", x, filters), filters)
        return conv("de_conv10", x, 3, 3, tf.sigmoid)


def adjust_net(illumination, ratio):
    with v1.variable_scope("Illumination_adjust_net"):
        x = tf.concat([illumination, ratio], 3)
        for index in (1, 2, 3):
            x = conv(f"en_conv_{index}", x, 32)
        # sigmoid(lrelu(conv)), as the original.
        return tf.sigmoid(conv("en_conv_4", x, 1))


def gradient(x, direction):
    kernel = tf.reshape(tf.constant([[0, 0], [-1, 1]], tf.float32), [2, 2, 1, 1])
    if direction == "y":
        kernel = tf.transpose(kernel, [1, 0, 2, 3])
    g = tf.abs(tf.nn.conv2d(x, kernel, 1, "SAME"))
    return (g - tf.reduce_min(g)) / (tf.reduce_max(g) - tf.reduce_min(g) + 0.0001)


def grad_loss(a, b):
    return tf.reduce_mean(tf.square(gradient(a, "x") - gradient(b, "x"))
                          + tf.square(gradient(a, "y") - gradient(b, "y")))


def decom_graph():
    low, high = (v1.placeholder(tf.float32, [None] * 3 + [3]) for _ in range(2))
    r_low, i_low = decom_net(low)
    r_high, i_high = decom_net(high)

    def mutual(a, b):
        gx, gy = gradient(a, "x") + gradient(b, "x"), gradient(a, "y") + gradient(b, "y")
        return tf.reduce_mean(gx * tf.exp(-10 * gx) + gy * tf.exp(-10 * gy))

    def input_mutual(i, image):
        gray = tf.image.rgb_to_grayscale(image)
        return tf.reduce_mean(
            tf.abs(gradient(i, "x") / tf.maximum(gradient(gray, "x"), 0.01))
            + tf.abs(gradient(i, "y") / tf.maximum(gradient(gray, "y"), 0.01)))

    loss = (tf.reduce_mean(tf.abs(r_high * tf.concat([i_high] * 3, 3) - high))
            + tf.reduce_mean(tf.abs(r_low * tf.concat([i_low] * 3, 3) - low))
            + 0.01 * tf.reduce_mean(tf.abs(r_low - r_high)) + 0.2 * mutual(i_low, i_high)
            + 0.15 * input_mutual(i_high, high) + 0.15 * input_mutual(i_low, low))
    return [low, high], loss


def restoration_graph():
    r_low, i_low, target = (v1.placeholder(tf.float32, [None] * 3 + [c]) for c in (3, 1, 3))
    out = restoration_net(r_low, i_low)
    # `losses.ssim` is the original `tf_ssim` op for op (tests/test_losses.py checks it).
    ssim = sum(losses.ssim(out[..., c:c + 1], target[..., c:c + 1]) for c in range(3)) / 3.0
    loss = (tf.reduce_mean(tf.square(out - target)) + (1 - ssim)
            + grad_loss(tf.image.rgb_to_grayscale(out), tf.image.rgb_to_grayscale(target)))
    return [r_low, i_low, target], loss


def adjust_graph():
    i_low, ratio, target = (v1.placeholder(tf.float32, [None] * 3 + [1]) for _ in range(3))
    out = adjust_net(i_low, ratio)
    return [i_low, ratio, target], tf.reduce_mean(tf.square(out - target)) + grad_loss(out, target)


GRAPHS = {"decom": (decom_graph, [3, 3]), "restoration": (restoration_graph, [3, 1, 3]),
          "adjust": (adjust_graph, [1, 1, 1])}


def _train_op(name):
    build, channels = GRAPHS[name]
    inputs, loss = build()
    train = v1.train.AdamOptimizer(1e-4).minimize(loss)
    session = v1.Session()
    session.run(v1.global_variables_initializer())
    return inputs, channels, [train, loss], session


def _batch(inputs, images, batch_size, patch_size, next_image):
    """A feed_dict built as the original builds every batch in Python (crop, rot90, flipud)."""
    channels = [image.shape[-1] for image in images[0]]
    arrays = [np.zeros((batch_size, patch_size, patch_size, c), np.float32) for c in channels]
    for patch in range(batch_size):
        pair = images[next_image()]
        height, width = pair[0].shape[:2]
        x, y = random.randint(0, height - patch_size), random.randint(0, width - patch_size)
        mode = random.randint(0, 7)
        for array, image in zip(arrays, pair):
            crop = np.rot90(image[x:x + patch_size, y:y + patch_size], k=mode // 2)
            array[patch] = np.flipud(crop) if mode % 2 else crop
    return dict(zip(inputs, arrays))


def seconds_per_step(name, batch_size, patch_size, steps, repeats, warmup=2):
    """Best seconds per original-style step over `repeats` runs of `steps` steps."""
    inputs, channels, fetches, session = _train_op(name)
    rng = np.random.default_rng(0)
    images = [[rng.random((400, 600, c), dtype=np.float32) for c in channels] for _ in range(41)]
    pick = lambda: random.randrange(len(images))  # noqa: E731
    for _ in range(warmup):
        session.run(fetches, _batch(inputs, images, batch_size, patch_size, pick))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            session.run(fetches, _batch(inputs, images, batch_size, patch_size, pick))
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def decomposition_script(data_dir, epochs, ckpt_dir):
    """What `decomposition_net_train.py` does for `epochs` epochs (batch 10, patch 48)."""

    def load(path):  # the original load_images
        image = np.array(Image.open(path), dtype="float32") / 255.0
        return np.float32((image - image.min()) / np.maximum(image.max() - image.min(), 0.001))

    def pairs(split):
        names = sorted(os.listdir(os.path.join(data_dir, split, "low")))
        return [[load(os.path.join(data_dir, split, side, name)) for side in ("low", "high")]
                for name in names]

    inputs, _, fetches, session = _train_op("decom")
    saver = v1.train.Saver(var_list=v1.trainable_variables())  # weights only, as the original
    images, _ = pairs("our485"), pairs("eval15")  # the original loads eval15 too
    position = [0]

    def next_image():
        image_id = position[0]
        position[0] = (image_id + 1) % len(images)
        if position[0] == 0:
            random.shuffle(images)
        return image_id

    for _ in range(epochs):
        for _ in range(len(images) // 10):
            session.run(fetches, _batch(inputs, images, 10, 48, next_image))
        saver.save(session, os.path.join(ckpt_dir, "model.ckpt"))  # every epoch, as the original


if __name__ == "__main__":
    if sys.argv[1] == "script":
        decomposition_script(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        net, batch_size, patch_size, steps, repeats = sys.argv[1], *map(int, sys.argv[2:6])
        print(seconds_per_step(net, batch_size, patch_size, steps, repeats))
