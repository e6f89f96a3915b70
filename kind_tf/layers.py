"""Building blocks shared by the three KinD networks."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kind_tf")
def lrelu(x):
    """Leaky ReLU of the original `model.lrelu`: max(0.2 x, x).

    `tf.nn.leaky_relu` gives bit-identical values and gradients (0.2 at x = 0, as the
    original's `tf.maximum(x * 0.2, x)`) with one op each way instead of two.
    """
    return tf.nn.leaky_relu(x, alpha=0.2)


def conv(filters, kernel_size, name, activation=lrelu, dtype=None):
    """A `slim.conv2d` as the original uses it: 'SAME' padding, bias, Glorot-uniform init.

    `dtype`: the layer's Keras dtype policy (see `output_conv`).
    """
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        activation=activation,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=name,
        dtype=dtype,
    )


def output_conv(filters, kernel_size, name, activation="sigmoid"):
    """A net's last `conv`, always computed in float32.

    Under a `mixed_bfloat16` policy the body runs in bf16, but the outputs (R, L in [0, 1])
    keep float32 precision: bf16's 8-bit mantissa would quantize L in steps of up to 0.004,
    coarser than the finite differences the training losses and the post-processing take.
    Costs little: the heads are the smallest convolutions of each net.
    """
    return conv(filters, kernel_size, name, activation=activation, dtype="float32")


def max_pool(name, dtype=None):
    """2x2/2 max-pool, 'SAME' padding as in the original (pads bottom/right on odd sizes)."""
    return keras.layers.MaxPooling2D(2, strides=2, padding="same", name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="kind_tf")
class UpsampleConcat(keras.layers.Layer):
    """The original `upsample_and_concat(x1, x2, ...)`.

    A 2x2 stride-2 transposed convolution without bias whose output takes the spatial shape of
    the skip tensor `x2` (on odd sizes this is the full 2x upsample cropped at bottom/right),
    followed by `concat([upsampled, skip], axis=-1)`. The kernel keeps the
    `tf.nn.conv2d_transpose` layout `[2, 2, filters, in_channels]` so that the authors'
    `<scope>/weights` variable loads as is.

    Call: `layer([x, skip])` with `skip` holding `filters` channels.
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters

    def build(self, input_shape):
        x_shape, skip_shape = input_shape
        if skip_shape[-1] is not None and skip_shape[-1] != self.filters:
            raise ValueError(
                f"{self.name}: skip tensor has {skip_shape[-1]} channels, expected {self.filters}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(2, 2, self.filters, x_shape[-1]),
            initializer="glorot_uniform",
        )

    def call(self, inputs):
        x, skip = inputs
        skip_shape = tf.shape(skip)
        output_shape = tf.stack([tf.shape(x)[0], skip_shape[1], skip_shape[2], self.filters])
        upsampled = tf.nn.conv2d_transpose(
            x, tf.cast(self.kernel, x.dtype), output_shape, strides=2, padding="SAME"
        )
        return tf.concat([upsampled, skip], axis=-1)

    def compute_output_shape(self, input_shape):
        _, skip_shape = input_shape
        return tuple(skip_shape[:-1]) + (2 * self.filters,)

    def get_config(self):
        config = super().get_config()
        config["filters"] = self.filters
        return config
