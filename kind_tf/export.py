"""Exports the whole enhancer (image, ratio -> enhanced image) as a TensorFlow SavedModel.

Usage: python -m kind_tf.export --out DIR [--ckpt pretrained/] [--precision fp32|bf16]

Signatures (any batch and size; `ratio` is a float32 scalar, the light level, 0-5 typical):
- `serving_default`: `image` uint8 (B,H,W,3) -> `enhanced` float32 in [0, 1] and
  `enhanced_uint8` (the original's truncating 8-bit conversion). Each image is min-max
  normalized first, as the original `load_images`.
- `enhance_normalized`: `image` float32 (B,H,W,3), already normalized -> `enhanced` float32.
Both apply the original post-processing (`pipeline.enhance` with `denoise=True`), untiled.
"""

import os
import shutil

import tensorflow as tf
from absl import flags

from kind_tf import cli, net_flags, pipeline
from kind_tf.errors import UserError

FLAGS = flags.FLAGS


def normalize(pixels):
    """TF twin of `image_io.normalize(pixels / 255)`, per image of a uint8 (B,H,W,3) batch."""
    image = tf.cast(pixels, tf.float32) / 255.0
    low = tf.reduce_min(image, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(image, axis=[1, 2, 3], keepdims=True)
    return (image - low) / tf.maximum(high - low, 0.001)


def to_uint8(image):
    """The original `save_images` conversion, `uint8(clip(x * 255, 0, 255))`: truncation."""
    return tf.cast(tf.clip_by_value(image * 255.0, 0.0, 255.0), tf.uint8)


class Enhancer(tf.Module):
    """The three nets and the post-processing, with the serving signatures."""

    def __init__(self, decom, restoration, adjust):
        super().__init__(name="kind_enhancer")
        self.decom, self.restoration, self.adjust = decom, restoration, adjust

    def _enhanced(self, image, ratio):
        return pipeline.enhance_ops(image, self.decom, self.restoration, self.adjust, ratio)

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.uint8, name="image"),
        tf.TensorSpec([], tf.float32, name="ratio"),
    ])
    def enhance_uint8(self, image, ratio):
        enhanced = self._enhanced(normalize(image), ratio)
        return {"enhanced": enhanced, "enhanced_uint8": to_uint8(enhanced)}

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.float32, name="image"),
        tf.TensorSpec([], tf.float32, name="ratio"),
    ])
    def enhance_normalized(self, image, ratio):
        return {"enhanced": self._enhanced(image, ratio)}


def export(nets, directory):
    """Writes the SavedModel of `nets` = (decom, restoration, adjust) to `directory`.

    It is written beside `directory` first and moved into place, so an interrupted export
    never leaves a half SavedModel (an existing one is replaced).
    """
    enhancer = Enhancer(*nets)
    temporary = f"{directory.rstrip(os.sep)}.{os.getpid()}.tmp"
    try:
        tf.saved_model.save(enhancer, temporary, signatures={
            "serving_default": enhancer.enhance_uint8,
            "enhance_normalized": enhancer.enhance_normalized,
        })
        if os.path.isdir(directory):
            shutil.rmtree(directory)
        os.replace(temporary, directory)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return directory


def define_flags():
    net_flags.define()
    # --help lists the shared flags with the script's own.
    flags.adopt_module_key_flags(net_flags)
    flags.adopt_module_key_flags(cli)
    flags.DEFINE_string("out", None, "Folder to write the SavedModel to (replaced if present).")
    flags.mark_flag_as_required("out")


def main(argv):
    del argv
    if os.path.exists(FLAGS.out) and not os.path.isdir(FLAGS.out):
        raise UserError(f"--out '{FLAGS.out}' is a file; give a folder for the SavedModel")
    print(f"device: {cli.configure_device()}")
    nets = net_flags.load_nets()
    tf.get_logger().setLevel("WARNING")  # tf.saved_model.save logs INFO lines per function.
    export(nets, FLAGS.out)
    print(f"wrote SavedModel to {FLAGS.out} (signatures: serving_default, enhance_normalized)")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
