"""Evaluates KinD on LOL eval15 as the authors' evaluate_LOLdataset.py, or on photos without
ground truth (the real low-light sets LIME, NPE, MEF, DICM, VV) with no-reference metrics.

Usage: python evaluate.py --ckpt checkpoint/ [--data_dir LOLdataset/eval15]
       [--output_dir results/LOLdataset_eval15] [--ratio gt|auto|NUMBER] [--precision fp32|bf16]
       [--pairs START:END] [--metrics psnr,ssim,ssim_gray,loe,niqe]
       python evaluate.py --no_reference --data_dir ~/data/unpaired/LIME [--ratio auto|NUMBER]
       [--metrics loe,niqe] [--nodenoise] [--output_dir results/LIME]
       (--ckpt pretrained/: the weights this project ships)

LOL: writes <name>_kindle.png per image, metrics.json, metrics.csv and comparison.png (low |
ours | ground truth) to --output_dir, and prints the means beside the published numbers: at
--ratio, at the fixed ratio 5.0, at --ratio auto, under the GT-mean protocol and for the
low-light input, in one run.
--no_reference: enhances each photo of --data_dir as kind_tf.enhance does (post-processing on),
scores it and the photo itself, and writes the same files (comparison.png: input | ours).
"""

from absl import flags

from kind_tf import cli, evaluation, metrics, net_flags, no_reference
from kind_tf.errors import UserError

FLAGS = flags.FLAGS


def define_flags():
    # The authors' evaluate_LOLdataset.py reads ./checkpoint; the shipped weights: pretrained/.
    net_flags.define(default_ckpt="checkpoint")
    # --help lists the shared flags with the script's own.
    net_flags.define_ratio("gt", allow_gt=True)
    flags.adopt_module_key_flags(net_flags)
    flags.adopt_module_key_flags(cli)
    flags.DEFINE_string("data_dir", "LOLdataset/eval15", "LOL split with low/ and high/; with "
                        "--no_reference a folder of photos.")
    flags.DEFINE_string("output_dir", "results/LOLdataset_eval15", "Where results go (with "
                        "--no_reference: results/<name of --data_dir> unless given).")
    flags.DEFINE_bool("restoration", True, "--norestoration leaves the restoration net out "
                      "(output R_decom * L_adjusted, the paper's ablation; needs no "
                      "Restoration_net_train/).")
    flags.DEFINE_string("pairs", ":", "Which pairs of --data_dir (sorted by name) to evaluate, "
                        "as START:END: ':2' the first two (quick checks), '466:485' with "
                        "--data_dir our485 the pairs the training scripts hold out.")
    flags.DEFINE_string("metrics", None, "Comma-separated metrics of "
                        f"{', '.join(metrics.NAMES)}: loe (lightness order error against the "
                        "low-light input) and niqe need no ground truth. Default: "
                        f"{','.join(evaluation.METRIC_NAMES)} on LOL, "
                        f"{','.join(no_reference.METRIC_NAMES)} with --no_reference.")
    flags.DEFINE_bool("no_reference", False, "--data_dir is a folder of photos without ground "
                      "truth: enhance each as kind_tf.enhance does and score it with "
                      "no-reference metrics. --ratio is then 'auto' unless given.")
    flags.DEFINE_bool("denoise", True, "With --no_reference: the original post-processing "
                      "(as kind_tf.enhance); --nodenoise scores R_restored * L_adjusted. The "
                      "LOL protocol never post-processes.")


def main(argv):
    del argv
    details = {"ckpt": FLAGS.ckpt, "precision": FLAGS.precision,
               "restoration": FLAGS.restoration}
    if FLAGS.no_reference:
        run_no_reference(details)
    else:
        run_lol(details)


def run_lol(details):
    if FLAGS["denoise"].present:
        raise UserError("--denoise/--nodenoise is for --no_reference: the LOL protocol scores "
                        "R_restored * L_adjusted without post-processing")
    ratio = net_flags.parse_ratio(FLAGS.ratio, FLAGS.target_brightness, allow_gt=True)
    selection = evaluation.parse_selection(FLAGS.pairs)
    names = evaluation.parse_metrics(FLAGS.metrics or ",".join(evaluation.METRIC_NAMES))
    print(f"device: {cli.configure_device()}")
    model = net_flags.load_model(restoration=FLAGS.restoration)
    report = evaluation.evaluate(model, FLAGS.data_dir, FLAGS.output_dir, ratio, selection,
                                 details=details, metric_names=names)
    print(evaluation.format_table(report))
    print(f"results, metrics.json/.csv and comparison.png in {FLAGS.output_dir}")


def run_no_reference(details):
    if FLAGS["pairs"].present:
        raise UserError("--pairs selects LOL pairs; with --no_reference every photo of "
                        "--data_dir is evaluated")
    if FLAGS.ratio.strip().lower() == "gt" and FLAGS["ratio"].present:
        raise UserError("--ratio gt needs a ground truth; with --no_reference give 'auto' or a "
                        "number")
    ratio = net_flags.parse_ratio(FLAGS.ratio if FLAGS["ratio"].present else "auto",
                                  FLAGS.target_brightness)
    names = evaluation.parse_metrics(FLAGS.metrics or ",".join(no_reference.METRIC_NAMES),
                                     allowed=metrics.NO_REFERENCE)
    output_dir = (FLAGS.output_dir if FLAGS["output_dir"].present
                  else no_reference.default_output_dir(FLAGS.data_dir))
    print(f"device: {cli.configure_device()}")
    model = net_flags.load_model(restoration=FLAGS.restoration)
    report = no_reference.evaluate_photos(model, FLAGS.data_dir, output_dir, ratio,
                                          FLAGS.denoise, names, details)
    print(no_reference.format_table(report))
    print(f"results, metrics.json/.csv and comparison.png in {output_dir}")
    if report["failed"]:
        failed, total = len(report["failed"]), len(report["failed"]) + len(report["images"])
        raise UserError(f"{failed} of {total} photos could not be evaluated: "
                        f"{', '.join(report['failed'])}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
