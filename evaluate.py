"""Evaluates KinD on LOL eval15 as the authors' evaluate_LOLdataset.py, with PSNR/SSIM.

Usage: python evaluate.py --ckpt checkpoint/ [--data_dir LOLdataset/eval15]
       [--output_dir results/LOLdataset_eval15] [--ratio gt|NUMBER] [--precision fp32|bf16]
       (--ckpt pretrained/: the weights this project ships)

Writes <name>_kindle.png per image, metrics.json, metrics.csv and comparison.png (low | ours |
ground truth) to --output_dir, and prints the mean PSNR/SSIM beside the published numbers:
at --ratio, at the fixed ratio 5.0 and under the GT-mean protocol, in one run.
"""

from absl import flags

from kind_tf import cli, evaluation, net_flags

FLAGS = flags.FLAGS


def define_flags():
    # The authors' evaluate_LOLdataset.py reads ./checkpoint; the shipped weights: pretrained/.
    net_flags.define(default_ckpt="checkpoint")
    # --help lists the shared flags with the script's own.
    flags.adopt_module_key_flags(net_flags)
    flags.adopt_module_key_flags(cli)
    flags.DEFINE_string("data_dir", "LOLdataset/eval15", "LOL split with low/ and high/.")
    flags.DEFINE_string("output_dir", "results/LOLdataset_eval15", "Where results go.")
    flags.DEFINE_string(
        "ratio", "gt", "Illumination ratio: 'gt' (the authors' LOL protocol: per image "
        "mean(L_high / (L_low + 1e-4)) from decomposing the ground truth) or a fixed number."
    )
    flags.DEFINE_integer("limit", None, "Evaluate only the first N pairs (quick checks).")


def main(argv):
    del argv
    ratio = evaluation.parse_ratio(FLAGS.ratio)
    print(f"device: {cli.configure_device()}")
    nets = net_flags.load_nets()
    report = evaluation.evaluate(
        nets, FLAGS.data_dir, FLAGS.output_dir, ratio, FLAGS.limit,
        details={"ckpt": FLAGS.ckpt, "precision": FLAGS.precision},
    )
    print(evaluation.format_table(report))
    print(f"results, metrics.json/.csv and comparison.png in {FLAGS.output_dir}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
