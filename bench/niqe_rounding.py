"""How much of each NIQE mean of the paper comparison is floating-point rounding.

Usage: python -m bench.niqe_rounding --run_dir ~/kind_runs/paper_comparison
       [--out docs/paper_comparison/niqe_rounding.json]

On photos with flat regions NIQE scores the rounding noise of its Gaussian filter
(docs/no_reference.md). For every run of `bench/paper_comparison.py` this recomputes the NIQE of
each enhanced photo and of each input photo with the same filter applied as two 1-D passes
(`niqe.niqe(..., separable=True)`, as MATLAB's imfilter applies it) and writes, per run, the
mean NIQE both ways and the largest change of one photo: the means' uncertainty that no
implementation can remove. Runs already in --out are kept (re-running measures the new ones).
"""

import glob
import json
import os

import numpy as np
from absl import flags

from kind_tf import cli, image_io, lol_pairs, niqe, outputs

FLAGS = flags.FLAGS
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_string("run_dir", None, "bench/paper_comparison.py's --run_dir.")
flags.DEFINE_string("out", os.path.join(REPO_ROOT, "docs", "paper_comparison",
                                        "niqe_rounding.json"), "Where the results go.")
flags.mark_flag_as_required("run_dir")


def input_photos(report):
    """{result name: path of the low-light photo} of a run."""
    data_dir = report["protocol"]["data_dir"]
    if "variants" in report:  # LOL: the low/ photos of the pairs
        paths = [low for low, _ in lol_pairs.list_pairs(data_dir)]
    else:
        paths = image_io.list_images(data_dir)
    return {outputs.result_name(path): path for path in paths}


def both_ways(pixels):
    return niqe.niqe(pixels), niqe.niqe(pixels, separable=True)


def main(argv):
    del argv
    results = {}
    if os.path.exists(FLAGS.out):  # runs measured before are kept, not measured again
        with open(FLAGS.out) as file:
            results = json.load(file)
    for saved in sorted(glob.glob(os.path.join(FLAGS.run_dir, "*", "metrics.json"))):
        run = os.path.basename(os.path.dirname(saved))
        if run in results:
            continue
        with open(saved) as file:
            report = json.load(file)
        photos = input_photos(report)
        scores = {"enhanced": [], "input": []}
        for row in report["images"]:
            enhanced = image_io.read_rgb(os.path.join(os.path.dirname(saved),
                                                      f"{row['name']}_kindle.png"))
            scores["enhanced"].append(both_ways(enhanced))
            scores["input"].append(both_ways(image_io.read_rgb(photos[row["name"]])))
        results[run] = {}
        for kind, pairs in scores.items():
            two_d, separable = np.array(pairs).T
            results[run][kind] = {
                "mean_niqe": float(np.nanmean(two_d)),
                "mean_niqe_separable": float(np.nanmean(separable)),
                "largest_photo_change": float(np.nanmax(np.abs(separable - two_d))),
            }
        print(run, json.dumps(results[run]), flush=True)
        outputs.write_json(FLAGS.out, results)


if __name__ == "__main__":
    cli.run(main)
