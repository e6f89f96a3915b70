"""The three KinD networks as Keras models, layer for layer the original `model.py`.

Each model's name is the original variable scope (`DecomNet`, `Restoration_net`,
`Illumination_adjust_net`) and each layer's name the original sub-scope, so that a TF1
variable `<model.name>/<layer.name>/weights` maps onto `layer.kernel` by name alone
(see `checkpoints.py`). All three accept any height and width, odd sizes included.
"""

import keras

from kind_tf.layers import UpsampleConcat, conv, lrelu, max_pool, output_conv

# --precision values -> Keras dtype policy of the nets.
PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16"}


def dtype_policy(precision):
    """The `dtype=` of the nets for a --precision value: "fp32", or "bf16" (Keras'
    `mixed_bfloat16`: bf16 compute with fp32 weights, so checkpoints are the same either way)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


class _KinDNet(keras.Model):
    """Functional model whose graph is built in `__init__`; serializes by name and dtype policy.

    `dtype` (a Keras dtype policy or its name; None: Keras' global policy) is passed to every
    layer except the float32 output heads (`layers.output_conv`).
    """

    def __init__(self, inputs, outputs, name, dtype, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        # A functional model does not take `dtype`; as keras-hub's `Backbone`, set it after.
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "dtype": keras.dtype_policies.serialize(self.dtype_policy)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="kind_tf")
class DecomNet(_KinDNet):
    """`DecomNet_simple`: image (B,H,W,3) -> reflectance R (B,H,W,3), illumination L (B,H,W,1)."""

    def __init__(self, name="DecomNet", dtype=None, **kwargs):
        image = keras.Input(shape=(None, None, 3), name="image")
        conv1 = conv(32, 3, "g_conv1_1", dtype=dtype)(image)
        pool1 = max_pool("pool1", dtype)(conv1)
        conv2 = conv(64, 3, "g_conv2_1", dtype=dtype)(pool1)
        pool2 = max_pool("pool2", dtype)(conv2)
        conv3 = conv(128, 3, "g_conv3_1", dtype=dtype)(pool2)
        up8 = UpsampleConcat(64, name="g_up_1", dtype=dtype)([conv3, conv2])
        conv8 = conv(64, 3, "g_conv8_1", dtype=dtype)(up8)
        up9 = UpsampleConcat(32, name="g_up_2", dtype=dtype)([conv8, conv1])
        conv9 = conv(32, 3, "g_conv9_1", dtype=dtype)(up9)
        # The original uses 1x1 heads here instead of the paper's 3x3 ("to get better results").
        reflectance = output_conv(3, 1, "g_conv10")(conv9)
        l_conv2 = conv(32, 3, "l_conv1_2", dtype=dtype)(conv1)
        l_conv3 = keras.layers.Concatenate(name="l_concat", dtype=dtype)([l_conv2, conv9])
        illumination = output_conv(1, 1, "l_conv1_4")(l_conv3)
        super().__init__(inputs=image, outputs=[reflectance, illumination], name=name,
                         dtype=dtype, **kwargs)


@keras.saving.register_keras_serializable(package="kind_tf")
class RestorationNet(_KinDNet):
    """`Restoration_net`, a U-Net: [R (B,H,W,3), L (B,H,W,1)] -> restored R (B,H,W,3)."""

    def __init__(self, name="Restoration_net", dtype=None, **kwargs):
        reflectance = keras.Input(shape=(None, None, 3), name="reflectance")
        illumination = keras.Input(shape=(None, None, 1), name="illumination")
        x = keras.layers.Concatenate(name="input_concat", dtype=dtype)([reflectance, illumination])
        skips = []
        for level, filters in enumerate((32, 64, 128, 256), start=1):
            x = conv(filters, 3, f"de_conv{level}_1", dtype=dtype)(x)
            x = conv(filters, 3, f"de_conv{level}_2", dtype=dtype)(x)
            skips.append(x)
            x = max_pool(f"pool{level}", dtype)(x)
        x = conv(512, 3, "de_conv5_1", dtype=dtype)(x)
        x = conv(512, 3, "de_conv5_2", dtype=dtype)(x)
        for level, filters, skip in zip((6, 7, 8, 9), (256, 128, 64, 32), reversed(skips)):
            x = UpsampleConcat(filters, name=f"up_{level}", dtype=dtype)([x, skip])
            x = conv(filters, 3, f"de_conv{level}_1", dtype=dtype)(x)
            x = conv(filters, 3, f"de_conv{level}_2", dtype=dtype)(x)
        restored = output_conv(3, 3, "de_conv10")(x)
        super().__init__(
            inputs=[reflectance, illumination], outputs=restored, name=name, dtype=dtype,
            **kwargs
        )


@keras.saving.register_keras_serializable(package="kind_tf")
class IllumAdjustNet(_KinDNet):
    """`Illumination_adjust_net`: [L (B,H,W,1), ratio map (B,H,W,1)] -> adjusted L (B,H,W,1)."""

    def __init__(self, name="Illumination_adjust_net", dtype=None, **kwargs):
        illumination = keras.Input(shape=(None, None, 1), name="illumination")
        ratio_map = keras.Input(shape=(None, None, 1), name="ratio_map")
        x = keras.layers.Concatenate(name="input_concat", dtype=dtype)([illumination, ratio_map])
        x = conv(32, 3, "en_conv_1", dtype=dtype)(x)
        x = conv(32, 3, "en_conv_2", dtype=dtype)(x)
        x = conv(32, 3, "en_conv_3", dtype=dtype)(x)
        # Quirk of the original, kept: the last conv has an lrelu before the sigmoid,
        # i.e. L_hat = sigmoid(lrelu(conv4)).
        x = output_conv(1, 3, "en_conv_4", activation=lrelu)(x)
        adjusted = keras.layers.Activation("sigmoid", name="sigmoid", dtype="float32")(x)
        super().__init__(inputs=[illumination, ratio_map], outputs=adjusted, name=name,
                         dtype=dtype, **kwargs)
