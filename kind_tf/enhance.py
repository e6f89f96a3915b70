"""Enhances any photo, or a folder of photos, as the authors' evaluate.py.

Usage: python -m kind_tf.enhance --input PATH_OR_FOLDER [--ckpt pretrained/]
       [--output_dir results/] [--ratio 5.0|auto] [--tile 1024] [--precision fp32|bf16]

Each photo (any format Pillow reads; grayscale and RGBA are converted to RGB) is normalized
over the whole image, enhanced with the original post-processing and written as
`<output_dir>/<name>_kindle.png`. Large photos are run tile by tile (`--tile`).
"""

import sys
from collections import Counter

from absl import flags

from kind_tf import cli, image_io, kind, net_flags, outputs, pipeline, progress
from kind_tf.errors import UserError

FLAGS = flags.FLAGS


def define_flags():
    net_flags.define()
    # --help lists the shared flags with the script's own.
    net_flags.define_ratio("5.0")
    flags.adopt_module_key_flags(net_flags)
    flags.adopt_module_key_flags(cli)
    flags.DEFINE_string("input", None, "A photo, or a folder of photos, to enhance.")
    flags.DEFINE_string("output_dir", "results", "Where <name>_kindle.png results go.")
    flags.DEFINE_bool(
        "denoise", True, "Apply the original post-processing (dark-region mask from the "
        "decomposed reflectance, fusion with the input). --nodenoise gives R_restored * L_adjusted."
    )
    flags.DEFINE_integer(
        "tile", 1024, "Photos larger than this (px, a multiple of 16) run through the nets in "
        "tiles of this size, bounding memory; the result equals the untiled one up to float "
        "rounding. 0: whole photo at once (about 1 GiB of memory per megapixel)."
    )
    flags.DEFINE_integer(
        "tile_margin", pipeline.TILE_MARGIN, "Context (px, a multiple of 16) around each tile. "
        f"{pipeline.TILE_MARGIN} covers the nets' receptive field; 32 is faster and stays "
        "within 1e-3 of the untiled result."
    )
    flags.mark_flag_as_required("input")


def input_paths(source, flag="--input"):
    """The photos to enhance: `source` itself, or the images of folder `source` (given as
    `flag`)."""
    paths = image_io.image_paths(source, flag)
    clashes = sorted(name for name, count in Counter(map(outputs.result_name, paths)).items()
                     if count > 1)
    if clashes:
        raise UserError(
            f"{flag} '{source}': several photos would be written to the same "
            f"<name>_kindle.png (name up to the first dot): {', '.join(clashes)}; rename them"
        )
    return paths


def failure_reason(path, error):
    """One line saying why photo `path` failed: a `UserError`'s message, else the error's type
    and first line."""
    if isinstance(error, UserError):
        return str(error)
    return f"'{path}' failed: {type(error).__name__}: {(str(error).splitlines() or [''])[0]}"


def enhance_file(path, model, output_dir, ratio=kind.DEFAULT_RATIO, denoise=True, tile=1024,
                 margin=pipeline.TILE_MARGIN):
    """Enhances photo `path` with `model` (a `kind.KinD`) into
    `<output_dir>/<name>_kindle.png`; returns that path.

    `ratio` is a `kind.Ratio` or a number or "auto"; `tile` 0 runs the whole photo at once.
    Raises `UserError` if the photo is unreadable.
    """
    image = image_io.load_image(path)[None]
    result = model.enhance(image, ratio, denoise, tile=tile or None, tile_margin=margin)
    target = outputs.kindle_path(path, output_dir)
    outputs.save_images(target, result.numpy())
    return target


def enhance_all(paths, model, output_dir, **options):
    """Enhances every photo of `paths` (`enhance_file` with `options`), with progress; returns
    the photos that failed. With several photos, one that fails for whatever reason is
    reported on one line and skipped, and the others are written."""
    bar = progress.progress_bar(len(paths), "photo")
    failed = []
    for index, path in enumerate(paths):
        try:
            enhance_file(path, model, output_dir, **options)
        except Exception as error:  # noqa: BLE001 - any failure of one photo of several
            if len(paths) == 1:
                raise
            print(f"\nskipped: {failure_reason(path, error)}", file=sys.stderr)
            failed.append(path)
        bar.update(index + 1)
    return failed


def check_options(tile, tile_margin):
    """Raises `UserError` for a --tile/--tile_margin off the 16 px grid."""
    for name, value in (("tile", tile), ("tile_margin", tile_margin)):
        if value < 0 or value % pipeline.TILE_ALIGN:
            raise UserError(f"--{name} must be 0 or a positive multiple of "
                            f"{pipeline.TILE_ALIGN}, got {value}")


def main(argv):
    del argv
    ratio = net_flags.parse_ratio(FLAGS.ratio, FLAGS.target_brightness)
    check_options(FLAGS.tile, FLAGS.tile_margin)
    paths = input_paths(FLAGS.input)
    print(f"device: {cli.configure_device()}")
    model = net_flags.load_model()
    outputs.make_output_dir(FLAGS.output_dir)
    failed = enhance_all(paths, model, FLAGS.output_dir, ratio=ratio, denoise=FLAGS.denoise,
                         tile=FLAGS.tile, margin=FLAGS.tile_margin)
    print(f"wrote {len(paths) - len(failed)} of {len(paths)} results to {FLAGS.output_dir}")
    if failed:
        raise UserError(f"{len(failed)} of {len(paths)} photos could not be enhanced: "
                        f"{', '.join(failed)}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
