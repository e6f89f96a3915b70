"""How well does a DecomNet minimize the released decomposition objective, and how dark is its L?

Scores DecomNet checkpoints with the original `loss_Decom` (`losses.decom_loss`, fp32, on whole
images) over LOL pairs, next to the mean illumination it gives the low and the high images:
the evidence behind the README's "where the gap is". A net trained by the released code on LOL
should score at least as well on the LOL training pairs as the authors' released weights if
those came from the same objective and data.

    .venv/bin/python bench/bench_decom_objective.py --data_dir ~/data/LOL \
        --ckpt authors=../shared/kind_reference/checkpoint,ours=pretrained    # ~1 min
"""

import os
import sys

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from kind_tf import checkpoints, image_io, lol_pairs, losses  # noqa: E402
from kind_tf.models import DecomNet  # noqa: E402

FLAGS = flags.FLAGS
# The original trains DecomNet on our485 and holds out its last pairs as samples.
TRAIN_PAIRS = 466


def decom_objective(ckpt_root, pairs):
    """Mean decom loss terms, L_low and L_high of the DecomNet under `ckpt_root` over `pairs`."""
    net = DecomNet()
    checkpoints.load_net(net, ckpt_root)
    terms = []
    for low_path, high_path in pairs:
        low, high = image_io.load_image(low_path)[None], image_io.load_image(high_path)[None]
        (r_low, l_low), (r_high, l_high) = net(low), net(high)
        terms.append(dict(losses.decom_loss(low, high, r_low, l_low, r_high, l_high),
                          L_low=np.mean(l_low), L_high=np.mean(l_high)))
    return {name: np.mean([float(t[name]) for t in terms]) for name in terms[0]}


def main(argv):
    del argv
    sets = {
        f"our485[0:{TRAIN_PAIRS}:{FLAGS.stride}]":
            lol_pairs.list_pairs(os.path.join(FLAGS.data_dir, "our485"))[:TRAIN_PAIRS:FLAGS.stride],
        "eval15": lol_pairs.list_pairs(os.path.join(FLAGS.data_dir, "eval15")),
    }
    header = None
    for entry in FLAGS.ckpt:
        name, _, root = entry.partition("=")
        if not root:
            raise app.UsageError(f"--ckpt entry '{entry}' is not name=checkpoint_root")
        for set_name, pairs in sets.items():
            result = decom_objective(root, pairs)
            if header is None:
                header = list(result)
                print("| DecomNet | pairs | " + " | ".join(header) + " |")
                print("|---" * (len(header) + 2) + "|")
            print(f"| {name} | {set_name} ({len(pairs)}) | "
                  + " | ".join(f"{result[key]:.4f}" for key in header) + " |", flush=True)


if __name__ == "__main__":
    flags.DEFINE_string("data_dir", None, "LOL folder holding our485/ and eval15/.")
    flags.DEFINE_list("ckpt", None, "name=checkpoint_root entries (each root holds "
                      "decom_net_train/).")
    flags.DEFINE_integer("stride", 12, "Score every this-th of the our485 training pairs.")
    flags.mark_flags_as_required(["data_dir", "ckpt"])
    app.run(main)
