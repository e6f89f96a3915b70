"""Exports the whole enhancer (image, ratio -> enhanced image) as a TensorFlow SavedModel
or as a LiteRT (TFLite) model for phones and edge devices.

Usage: python -m kind_tf.export --out DIR [--ckpt pretrained/] [--precision fp32|bf16]
       python -m kind_tf.export --format tflite --out kind.tflite [--tflite_weights float16]

SavedModel signatures (any batch and size; `ratio` is a float32 scalar, the light level, 0-5
typical):
- `serving_default`: `image` uint8 (B,H,W,3) -> `enhanced` float32 in [0, 1] and
  `enhanced_uint8` (the original's truncating 8-bit conversion). Each image is min-max
  normalized first, as the original `load_images`.
- `enhance_normalized`: `image` float32 (B,H,W,3), already normalized -> `enhanced` float32.
Both are `kind.KinD`'s call with the original post-processing (`denoise=True`), untiled.

The TFLite model holds `serving_default` only, with the same inputs and outputs and any image
size (the LiteRT interpreter resizes its inputs per call; `load_tflite`). Its weights are
float32, or with `--tflite_weights float16` stored as float16 (half the file; most runtimes
compute in float32 after loading them, GPU delegates in float16).
"""

import os
import shutil

import tensorflow as tf
from absl import flags
from tensorflow.python.framework import convert_to_constants

from kind_tf import cli, image_io, net_flags, outputs
from kind_tf.errors import UserError

FLAGS = flags.FLAGS

FORMATS = ("savedmodel", "tflite")
TFLITE_WEIGHTS = ("float32", "float16")


def normalize(pixels):
    """`image_io.normalize_pixels` in TF ops, per image of a uint8 (B,H,W,3) batch."""
    image = tf.cast(pixels, tf.float32) / 255.0
    return image_io.min_max_scaled(image, tf.reduce_min(image, axis=[1, 2, 3], keepdims=True),
                                   tf.reduce_max(image, axis=[1, 2, 3], keepdims=True))


class Enhancer(tf.Module):
    """A `kind.KinD` with the serving signatures."""

    def __init__(self, model):
        super().__init__(name="kind_enhancer")
        self.model = model

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.uint8, name="image"),
        tf.TensorSpec([], tf.float32, name="ratio"),
    ])
    def enhance_uint8(self, image, ratio):
        enhanced = self.model(normalize(image), ratio=ratio)
        return {"enhanced": enhanced, "enhanced_uint8": outputs.to_uint8(enhanced)}

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.float32, name="image"),
        tf.TensorSpec([], tf.float32, name="ratio"),
    ])
    def enhance_normalized(self, image, ratio):
        return {"enhanced": self.model(image, ratio=ratio)}


def export(model, directory):
    """Writes the SavedModel of `model` (a `kind.KinD`) to `directory`.

    It is written beside `directory` first and moved into place, so an interrupted export
    never leaves a half SavedModel (an existing one is replaced).
    """
    enhancer = Enhancer(model)
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


def frozen_enhance_uint8(enhancer):
    """`enhancer.enhance_uint8` as a concrete function with the weights folded in as constants.

    The TFLite converter keeps Keras 3 weights as resource variables that nothing initializes
    in the converted model (VAR_HANDLE / READ_VARIABLE ops, a 67 kB file whose outputs are
    NaN), whether it is given the concrete function with its module or the SavedModel. Frozen
    by hand it gets constants; the wrapper restores the output names, which freezing drops
    (they would become `output_0`, `output_1`).
    """
    function = enhancer.enhance_uint8.get_concrete_function()
    frozen = convert_to_constants.convert_variables_to_constants_v2(function)

    @tf.function(input_signature=function.structured_input_signature[0])
    def enhance_uint8(image, ratio):
        return tf.nest.pack_sequence_as(function.structured_outputs,
                                        tf.nest.flatten(frozen(image, ratio)))

    return enhance_uint8.get_concrete_function()


def tflite_model(model, weights="float32"):
    """The TFLite flatbuffer (bytes) of `Enhancer(model).enhance_uint8`, any image size.

    `weights` "float16" stores the weights as float16 (the converter's float16 quantization).
    """
    if weights not in TFLITE_WEIGHTS:
        raise ValueError(f"weights must be one of {TFLITE_WEIGHTS}, got {weights!r}")
    # A module to convert through: the converter then saves the function as a SavedModel
    # signature, which keeps the input and output names in the TFLite model's signature.
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [frozen_enhance_uint8(Enhancer(model))], tf.Module())
    if weights == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def export_tflite(model, path, weights="float32"):
    """Writes the TFLite model of `model` (`tflite_model`) to file `path`, atomically."""
    flatbuffer = tflite_model(model, weights)
    with outputs.atomic_write(path, "wb") as file:
        file.write(flatbuffer)
    return path


def load_tflite(path, num_threads=None):
    """The `serving_default` signature runner of a TFLite model under the LiteRT interpreter.

    `runner(image=uint8 (B,H,W,3), ratio=np.float32(5.0))` returns the dict of outputs; it
    resizes the inputs to each call's image. Needs `ai-edge-litert` (a test dependency, not
    one of the package's: phones run the model with their own LiteRT). `num_threads` None is
    LiteRT's default, one thread.
    """
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=path, num_threads=num_threads).get_signature_runner()


def define_flags():
    net_flags.define()
    # --help lists the shared flags with the script's own.
    flags.adopt_module_key_flags(net_flags)
    flags.adopt_module_key_flags(cli)
    flags.DEFINE_enum("format", "savedmodel", FORMATS, "savedmodel (a folder, for TF "
                      "serving) or tflite (one file, for the LiteRT runtime on phones and "
                      "edge devices).")
    flags.DEFINE_string("out", None, "Where to write the model, replaced if present: a folder "
                        "for the SavedModel, a file (e.g. kind.tflite) for TFLite.")
    flags.DEFINE_enum("tflite_weights", "float32", TFLITE_WEIGHTS, "--format tflite: how the "
                      "weights are stored; float16 halves the file at a small cost in "
                      "accuracy.")
    flags.mark_flag_as_required("out")


def check_options(model_format, out, precision, tflite_weights_given):
    """`UserError` for options that do not fit together or an --out of the wrong kind."""
    if model_format == "savedmodel":
        if os.path.exists(out) and not os.path.isdir(out):
            raise UserError(f"--out '{out}' is a file; give a folder for the SavedModel")
        if tflite_weights_given:
            raise UserError("--tflite_weights is for --format tflite")
        return
    if os.path.isdir(out):
        raise UserError(f"--out '{out}' is a folder; give a file for the TFLite model "
                        f"(e.g. kind.tflite)")
    if precision != "fp32":
        # LiteRT has no bf16 kernels; float16 weights are its way to a smaller model.
        raise UserError(f"--precision {precision} is for the SavedModel; for a smaller "
                        f"TFLite model use --tflite_weights float16")


def main(argv):
    del argv
    check_options(FLAGS.format, FLAGS.out, FLAGS.precision, FLAGS["tflite_weights"].present)
    print(f"device: {cli.configure_device()}")
    model = net_flags.load_model()
    tf.get_logger().setLevel("WARNING")  # tf.saved_model.save logs INFO lines per function.
    if FLAGS.format == "tflite":
        outputs.make_output_dir(os.path.dirname(FLAGS.out) or ".", "--out")
        export_tflite(model, FLAGS.out, FLAGS.tflite_weights)
        size = os.path.getsize(FLAGS.out) / 2**20
        print(f"wrote TFLite model to {FLAGS.out} ({size:.1f} MiB, {FLAGS.tflite_weights} "
              f"weights; signature serving_default)")
        return
    export(model, FLAGS.out)
    print(f"wrote SavedModel to {FLAGS.out} (signatures: serving_default, enhance_normalized)")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
