"""The original's optimizer: TF1 `tf.train.AdamOptimizer`, as a Keras 3 optimizer."""

import keras
import tensorflow as tf

# tf.train.AdamOptimizer's default; Keras' Adam defaults to 1e-7.
TF1_ADAM_EPSILON = 1e-8


def _handle(variable):
    """The resource handle of a Keras or TF variable (per device under a strategy's update)."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


@keras.saving.register_keras_serializable(package="kind_tf")
class Adam(keras.optimizers.Adam):
    """`tf.train.AdamOptimizer(learning_rate)` of the original training scripts.

    The same update as Keras' Adam with the TF1 defaults (beta_1 0.9, beta_2 0.999,
    epsilon 1e-8), computed by the kernel the original runs, `ResourceApplyAdam`: one fused
    pass over each variable instead of Keras' dozen elementwise ops (`bench/README.md`). The
    optimizer variables are Keras Adam's, so checkpoints of either load into the other.
    """

    def __init__(self, learning_rate=0.001, epsilon=TF1_ADAM_EPSILON, **kwargs):
        super().__init__(learning_rate=learning_rate, epsilon=epsilon, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype),
            beta1=tf.cast(self.beta_1, dtype),
            beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )
