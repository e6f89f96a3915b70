"""Tests for kind_tf.optimizers: the original's TF1 AdamOptimizer as a Keras optimizer."""

import keras
import numpy as np
import tensorflow as tf

from kind_tf import optimizers


def tf1_adam(values, gradients, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    """tf.train.AdamOptimizer's documented update, in float64, over a list of steps."""
    m = np.zeros_like(values)
    v = np.zeros_like(values)
    for step, gradient in enumerate(gradients, start=1):
        m = beta_1 * m + (1 - beta_1) * gradient
        v = beta_2 * v + (1 - beta_2) * gradient**2
        lr_t = lr * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
        values = values - lr_t * m / (np.sqrt(v) + epsilon)
    return values


def run(optimizer, initial, gradients):
    variable = keras.Variable(initial)
    optimizer.build([variable])
    update = tf.function(lambda g: optimizer.apply_gradients([(g, variable)]))
    for gradient in gradients:
        update(tf.constant(gradient))
    return variable.numpy()


def test_adam_is_the_tf1_update_with_its_defaults():
    rng = np.random.default_rng(0)
    initial = rng.normal(size=(3, 4, 5)).astype(np.float32)
    # A tiny first gradient, where epsilon 1e-8 (not Keras' 1e-7) matters.
    gradients = [np.float32(rng.normal(size=initial.shape) * scale) for scale in (1e-7, 1, 0.3)]
    optimizer = optimizers.Adam(learning_rate=0.01)
    assert optimizer.epsilon == optimizers.TF1_ADAM_EPSILON == 1e-8
    expected = tf1_adam(initial.astype(np.float64), gradients, 0.01)
    np.testing.assert_allclose(run(optimizer, initial, gradients), expected, rtol=1e-5, atol=1e-7)
    # Keras' own Adam with the same epsilon agrees (it is the same formula, unfused).
    keras_adam = keras.optimizers.Adam(learning_rate=0.01, epsilon=1e-8)
    np.testing.assert_allclose(run(keras_adam, initial, gradients), expected, rtol=1e-5,
                               atol=1e-7)


def test_adam_checkpoints_are_keras_adams(tmp_path):
    """Checkpoints written with Keras' Adam (earlier runs) resume with ours, slots and all."""
    variable = keras.Variable(np.ones((2, 2), np.float32))
    theirs = keras.optimizers.Adam(1e-4)
    theirs.build([variable])
    theirs.apply_gradients([(tf.fill((2, 2), 0.5), variable)])
    path = tf.train.Checkpoint(optimizer=theirs).save(str(tmp_path / "ckpt"))
    ours = optimizers.Adam(1e-4)
    ours.build([variable])
    tf.train.Checkpoint(optimizer=ours).restore(path).assert_existing_objects_matched()
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    for mine, saved in zip(ours.variables, theirs.variables):
        np.testing.assert_array_equal(mine.numpy(), saved.numpy())


def test_adam_config_round_trip():
    restored = optimizers.Adam.from_config(optimizers.Adam(1e-4).get_config())
    assert (restored.epsilon, restored.beta_1, restored.beta_2) == (1e-8, 0.9, 0.999)
    np.testing.assert_allclose(float(restored.learning_rate), 1e-4)
