"""The decomposition figure of docs/reproducing_kind.md: R_low | L_low | R_high | L_high of a few
eval15 pairs, one row per (DecomNet, image).

    .venv/bin/python -m bench.figure_decompositions --data_dir ~/data/LOL \
        --ckpt "authors=../shared/kind_reference/checkpoint,faithful=pretrained" \
        --images 23,111 --out docs/decompositions.png
"""

import os

import numpy as np
from absl import app, flags
from PIL import Image, ImageDraw

from bench.bench_decom_objective import load_decom
from kind_tf import image_io, outputs

FLAGS = flags.FLAGS
TILE_HEIGHT = 160


def _tile(image, label):
    """`image` (H,W,C in [0, 1]) as an RGB uint8 tile `TILE_HEIGHT` px high, labelled."""
    pixels = outputs.to_uint8(np.repeat(image, 3 // image.shape[-1], axis=-1))
    tile = Image.fromarray(pixels).resize(
        (round(pixels.shape[1] * TILE_HEIGHT / pixels.shape[0]), TILE_HEIGHT), Image.LANCZOS)
    draw = ImageDraw.Draw(tile)
    draw.rectangle([0, 0, 6 * len(label) + 6, 14], fill=(0, 0, 0))
    draw.text((3, 2), label, fill=(255, 255, 255))
    return np.asarray(tile)


def main(argv):
    del argv
    rows = []
    for entry in FLAGS.ckpt:
        name, _, path = entry.partition("=")
        net = load_decom(path)
        for image_name in FLAGS.images:
            tiles = []
            for side in ("low", "high"):
                image = image_io.load_image(
                    os.path.join(FLAGS.data_dir, "eval15", side, f"{image_name}.png"))
                reflectance, illumination = (x[0].numpy() for x in net(image[None]))
                tiles += [_tile(reflectance, f"{name} {image_name}: R_{side}"),
                          _tile(illumination, f"L_{side} mean {illumination.mean():.2f}")]
            rows.append(np.concatenate(tiles, axis=1))
    outputs.write_png(FLAGS.out, np.concatenate(rows, axis=0))
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    flags.DEFINE_string("data_dir", None, "LOL folder holding eval15/.")
    flags.DEFINE_list("ckpt", None, "name=path of each DecomNet (see bench_decom_objective).")
    flags.DEFINE_list("images", ["23", "111"], "eval15 image names.")
    flags.DEFINE_string("out", "docs/decompositions.png", "The figure (PNG).")
    flags.mark_flags_as_required(["data_dir", "ckpt"])
    app.run(main)
