"""Evaluates KinD on LOL eval15 as the authors' evaluate_LOLdataset.py, with PSNR/SSIM.

Usage: python evaluate.py --ckpt checkpoint/ [--data_dir LOLdataset/eval15]
       [--output_dir results/LOLdataset_eval15] [--ratio gt|auto|NUMBER] [--precision fp32|bf16]
       [--pairs START:END]
       (--ckpt pretrained/: the weights this project ships)

Writes <name>_kindle.png per image, metrics.json, metrics.csv and comparison.png (low | ours |
ground truth) to --output_dir, and prints the mean PSNR/SSIM beside the published numbers:
at --ratio, at the fixed ratio 5.0, at --ratio auto and under the GT-mean protocol, in one
run.
"""

from absl import flags

from kind_tf import cli, evaluation, net_flags

FLAGS = flags.FLAGS


def define_flags():
    # The authors' evaluate_LOLdataset.py reads ./checkpoint; the shipped weights: pretrained/.
    net_flags.define(default_ckpt="checkpoint")
    # --help lists the shared flags with the script's own.
    net_flags.define_ratio("gt", allow_gt=True)
    flags.adopt_module_key_flags(net_flags)
    flags.adopt_module_key_flags(cli)
    flags.DEFINE_string("data_dir", "LOLdataset/eval15", "LOL split with low/ and high/.")
    flags.DEFINE_string("output_dir", "results/LOLdataset_eval15", "Where results go.")
    flags.DEFINE_bool("restoration", True, "--norestoration leaves the restoration net out "
                      "(output R_decom * L_adjusted, the paper's ablation; needs no "
                      "Restoration_net_train/).")
    flags.DEFINE_string("pairs", ":", "Which pairs of --data_dir (sorted by name) to evaluate, "
                        "as START:END: ':2' the first two (quick checks), '466:485' with "
                        "--data_dir our485 the pairs the training scripts hold out.")


def main(argv):
    del argv
    ratio = net_flags.parse_ratio(FLAGS.ratio, allow_gt=True)
    selection = evaluation.parse_selection(FLAGS.pairs)
    target = net_flags.check_target_brightness(FLAGS.target_brightness)
    print(f"device: {cli.configure_device()}")
    nets = net_flags.load_nets(restoration=FLAGS.restoration)
    report = evaluation.evaluate(
        nets, FLAGS.data_dir, FLAGS.output_dir, ratio, selection,
        details={"ckpt": FLAGS.ckpt, "precision": FLAGS.precision,
                 "restoration": FLAGS.restoration}, target_brightness=target,
    )
    print(evaluation.format_table(report))
    print(f"results, metrics.json/.csv and comparison.png in {FLAGS.output_dir}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
