"""The KinD paper's whole comparison: LOL (PSNR / SSIM / LOE / NIQE) and NIQE on the real sets.

Usage: python -m bench.paper_comparison --lol_dir ~/data/LOL/eval15 --sets_dir ~/data/unpaired
       --run_dir ~/kind_runs/paper_comparison [--sets LIME,NPE,MEF,DICM,VV]
       [--authors_ckpt ../shared/kind_reference/checkpoint] [--out_dir docs/paper_comparison]

Runs, each into <run_dir>/<run>/ (results and metrics.json, as evaluate.py writes them), and
skips a run whose metrics.json exists, so an interrupted measurement continues where it stopped:
- lol_ours: the shipped weights (pretrained/) on LOL eval15, GT ratio (the variants give ratio
  5.0 and the input), metrics psnr, ssim, loe, niqe;
- lol_authors: the authors' decom and adjust weights without restoration (none is published),
  the same;
- for each set of --sets (a folder <sets_dir>/<SET>): <SET>_ours_auto (ratio auto),
  <SET>_ours_5 (ratio 5.0) and <SET>_authors_5 (the authors' nets at their evaluate.py's 5.0),
  each with the original post-processing, as `evaluate.py --no_reference`.
After each run it copies the run's metrics.json / metrics.csv to <out_dir>/<run>/ and writes
<out_dir>/summary.md (the README's table; runs not yet measured are "-") and summary.json,
with the host, date and commit.
"""

import datetime
import json
import os
import shutil
import tempfile

from absl import flags

from kind_tf import checkpoints, cli, evaluation, no_reference, outputs, recipe
from kind_tf.kind import KinD

FLAGS = flags.FLAGS
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUTHORS_CKPT = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "kind_reference",
                                             "checkpoint"))
LOL_METRICS = ("psnr", "ssim", "loe", "niqe")
SETS = ("LIME", "NPE", "MEF", "DICM", "VV")
# The authors' evaluate.py enhances photos at this ratio.
AUTHORS_RATIO = 5.0
# The KinD paper's numbers in this table: only LOL PSNR / SSIM are transcribed (the README's
# eval15 table); its LOE and NIQE are not (docs/no_reference.md).
PAPER = {"lol": {"psnr": 20.87, "ssim": 0.80}}

flags.DEFINE_string("lol_dir", None, "LOL eval15 (low/ and high/).")
flags.DEFINE_string("sets_dir", None, "Folder holding one folder of photos per set.")
flags.DEFINE_list("sets", list(SETS), "The sets to measure, in this order (missing folders are "
                  "reported and left out).")
flags.DEFINE_string("run_dir", None, "Where the runs write their results (outside the "
                    "repository).")
flags.DEFINE_string("authors_ckpt", AUTHORS_CKPT, "Folder holding the authors' "
                    "decom_net_train/ and illumination_adjust_net_train/.")
flags.DEFINE_string("ckpt", checkpoints.PRETRAINED_DIR, "Our weights.")
flags.DEFINE_string("out_dir", os.path.join(REPO_ROOT, "docs", "paper_comparison"),
                    "Where the metrics files and the summary go.")
flags.mark_flags_as_required(["lol_dir", "sets_dir", "run_dir"])


def authors_root(directory):
    """A checkpoint root in `directory` linking the authors' decom and adjust checkpoints."""
    for folder in ("decom_net_train", "illumination_adjust_net_train"):
        os.symlink(os.path.abspath(os.path.join(FLAGS.authors_ckpt, folder)),
                   os.path.join(directory, folder))
    return directory


def planned_runs():
    """[(run name, weights "ours"/"authors", set name or "lol", ratio)] in measuring order."""
    runs = [("lol_ours", "ours", "lol", "gt"), ("lol_authors", "authors", "lol", "gt")]
    for name in FLAGS.sets:
        runs += [(f"{name}_ours_auto", "ours", name, "auto"),
                 (f"{name}_ours_5", "ours", name, AUTHORS_RATIO),
                 (f"{name}_authors_5", "authors", name, AUTHORS_RATIO)]
    return runs


def measure(run, weights, dataset, ratio, model):
    output_dir = os.path.join(FLAGS.run_dir, run)
    details = {"ckpt": FLAGS.ckpt if weights == "ours" else "authors' decom + adjust",
               "precision": "fp32", "restoration": weights == "ours"}
    if dataset == "lol":
        report = evaluation.evaluate(model, FLAGS.lol_dir, output_dir, ratio, details=details,
                                     verbose=2, metric_names=LOL_METRICS)
        print(evaluation.format_table(report))
    else:
        report = no_reference.evaluate_photos(model, os.path.join(FLAGS.sets_dir, dataset),
                                              output_dir, ratio, details=details)
        print(no_reference.format_table(report))
    return report


def cell(values, names, decimals):
    return " / ".join(f"{values[name]:.{digits}f}" for name, digits in zip(names, decimals))


def summary(reports, host, commit):
    """(summary.md text, summary.json content) of the runs measured so far."""
    def lol(run, variant=None):
        report = reports.get(run)
        if report is None:
            return "-"
        values = report["mean"] if variant is None else report["variants"][variant]["mean"]
        return cell(values, LOL_METRICS, (2, 3, 1, 2))

    def niqe(run, of_input=False):
        report = reports.get(run)
        if report is None:
            return "-"
        return f"{(report['input']['mean'] if of_input else report['mean'])['niqe']:.2f}"

    sets = list(FLAGS.sets)
    header = ("| weights | LOL: PSNR / SSIM / LOE / NIQE | "
              + " | ".join(f"{name} NIQE" for name in sets) + " |")
    rows = [
        ("ours (`pretrained/`), GT ratio on LOL, `auto` on the others", lol("lol_ours"),
         [niqe(f"{name}_ours_auto") for name in sets]),
        ("ours, ratio 5.0", lol("lol_ours", "fixed_ratio"),
         [niqe(f"{name}_ours_5") for name in sets]),
        ("the authors' decom + adjust, no restoration (GT ratio on LOL, 5.0 on the others)",
         lol("lol_authors"), [niqe(f"{name}_authors_5") for name in sets]),
        ("KinD paper", f"{PAPER['lol']['psnr']:.2f} / {PAPER['lol']['ssim']:.2f} / - / -",
         ["-" for _ in sets]),
        ("input (the low-light photo itself)", lol("lol_ours", "input"),
         [niqe(f"{name}_ours_auto", of_input=True) for name in sets]),
    ]
    lines = [header, "|---" * (2 + len(sets)) + "|"]
    lines += [f"| {label} | {lol_cell} | " + " | ".join(cells) + " |"
              for label, lol_cell, cells in rows]
    counts = {run: report["protocol"]["images"] for run, report in reports.items()}
    loe = {run: report["mean"].get("loe") for run, report in reports.items()}
    text = "\n".join([
        "# The paper's comparison, measured",
        "",
        f"Written by `bench/paper_comparison.py` on {datetime.date.today().isoformat()}, "
        f"commit {commit}, host {host}; fp32 inference.",
        "",
        *lines,
        "",
        "Photos scored per run: " + ", ".join(f"{run} {count}" for run, count in counts.items()),
        "",
        "Mean LOE per run (against the low-light input, 100x100 samples): "
        + ", ".join(f"{run} {value:.1f}" for run, value in loe.items() if value is not None),
        "",
    ])
    content = {"date": datetime.date.today().isoformat(), "commit": commit, "host": host,
               "runs": {run: {"mean": report["mean"],
                              "input": (report["variants"]["input"]["mean"] if "variants" in report
                                        else report["input"]["mean"]),
                              **({"fixed_ratio": report["variants"]["fixed_ratio"]["mean"]}
                                 if "variants" in report else {}),
                              "protocol": report["protocol"], "failed": report.get("failed", [])}
                        for run, report in reports.items()},
               "table": text}
    return text, content


def main(argv):
    del argv
    host, (commit, _) = recipe.host_description(), recipe.git_commit()
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    reports, models = {}, {}
    with tempfile.TemporaryDirectory() as temporary:
        roots = {"ours": FLAGS.ckpt, "authors": authors_root(temporary)}
        for run, weights, dataset, ratio in planned_runs():
            if dataset != "lol" and not os.path.isdir(os.path.join(FLAGS.sets_dir, dataset)):
                print(f"skipped: {run}: no folder {os.path.join(FLAGS.sets_dir, dataset)}")
                continue
            saved = os.path.join(FLAGS.run_dir, run, "metrics.json")
            if os.path.exists(saved):
                with open(saved) as file:
                    reports[run] = json.load(file)
                print(f"{run}: measured before ({saved})")
            else:
                if weights not in models:
                    models[weights] = KinD.from_checkpoint(roots[weights],
                                                           restoration=weights == "ours")
                print(f"measuring {run}", flush=True)
                reports[run] = measure(run, weights, dataset, ratio, models[weights])
            copy = os.path.join(FLAGS.out_dir, run)
            os.makedirs(copy, exist_ok=True)
            for name in ("metrics.json", "metrics.csv"):
                shutil.copy(os.path.join(FLAGS.run_dir, run, name), os.path.join(copy, name))
            text, content = summary(reports, host, commit)
            with outputs.atomic_write(os.path.join(FLAGS.out_dir, "summary.md")) as file:
                file.write(text)
            outputs.write_json(os.path.join(FLAGS.out_dir, "summary.json"), content)
    print(text)


if __name__ == "__main__":
    cli.run(main)
