"""Evaluation on photos without ground truth: the real low-light sets (LIME, NPE, MEF, DICM, VV).

Each photo of a folder is enhanced as `kind_tf.enhance` enhances it (normalized over the whole
photo, the original post-processing unless `denoise` is off, photos over `tile` px in tiles),
saved as `<name>_kindle.png`, and that 8-bit result is scored with no-reference metrics: NIQE
(`kind_tf.niqe`) and LOE against the photo itself (`metrics.lightness_order_error`). The photo
is scored too (its NIQE; its LOE is 0), the row "input" of the paper's tables. Writes
`metrics.json`, `metrics.csv` and `comparison.png` (input | enhanced, a few photos). A photo
that fails is reported on one line and left out.
"""

import os
import sys

import numpy as np

from kind_tf import enhance, evaluation, image_io, kind, metrics, outputs, progress
from kind_tf.errors import UserError

METRIC_NAMES = metrics.NO_REFERENCE
# The KinD paper's mean NIQE per set would go here, by set name (the folder's name); they are
# not transcribed (docs/no_reference.md says why), so the table prints none.
PUBLISHED = {}


def csv_columns(names=METRIC_NAMES):
    """metrics.csv's columns for the metrics `names`."""
    return ("name", *names, "ratio", *(f"input_{name}" for name in names))


def protocol(ratio, denoise, data_dir):
    """What a run at `kind.Ratio` `ratio` measured, for metrics.json and the printed table."""
    return {
        "name": "no reference (photos without ground truth)",
        "setting": ratio.setting,
        "ratio": (f"auto: {ratio.target_brightness:g} / mean(L_low) per photo"
                  if ratio.rule == "auto" else ratio.rule),
        "denoise": denoise,
        "output": ("the original evaluate.py's post-processed result" if denoise else
                   "R_restored * L_adjusted (no post-processing)") + ", uint8(clip(255 x)) PNG",
        "loe": "lightness order error against the photo, 100x100 samples (LIME)",
        "niqe": "NIQE, MATLAB release (rgb2gray), pristine model of the release",
        "data_dir": data_dir,
    }


def score_photo(path, model, output_dir, ratio, denoise, metric_names, tile):
    """Enhances photo `path` with `model` into `<output_dir>/<name>_kindle.png` and scores it:
    returns (row, input pixels, enhanced pixels)."""
    low = image_io.read_rgb(path)
    image = image_io.normalize_pixels(low)[None]
    image_ratio = ratio.resolve(model, image)
    result = model.enhance(image, image_ratio, denoise, tile=tile)
    target = outputs.kindle_path(path, output_dir)
    outputs.save_images(target, result.numpy())
    ours = image_io.read_rgb(target)
    row = {"name": outputs.result_name(path), **metrics.compute(metric_names, ours, low=low),
           "ratio": image_ratio}
    row.update({f"input_{key}": value
                for key, value in metrics.compute(metric_names, low, low=low).items()})
    return row, low, ours


def contact_row(low, ours, row):
    """input | enhanced, downscaled and labelled with their NIQE when it was measured."""
    def label(prefix, key):
        value = row.get(key)
        return f"{prefix} NIQE {value:.2f}" if value is not None else prefix

    return np.concatenate([evaluation.labelled_tile(low, label(row["name"], "input_niqe")),
                           evaluation.labelled_tile(ours, label("enhanced", "niqe"))], axis=1)


def evaluate_photos(model, data_dir, output_dir, ratio="auto", denoise=True,
                    metric_names=METRIC_NAMES, details=None, tile=1024):
    """Enhances and scores every photo of folder `data_dir` into `output_dir`; returns the
    metrics.json content (`"failed"`: the photos that could not be evaluated).

    `model` is a `kind.KinD`; `ratio` a `kind.Ratio` or a number or "auto"; `metric_names` of
    `metrics.NO_REFERENCE`; `details` (e.g. the checkpoint) go into the protocol record.
    Raises `UserError` when no photo could be evaluated.
    """
    ratio = kind.Ratio.of(ratio)
    paths = enhance.input_paths(data_dir, "--data_dir")
    outputs.make_output_dir(output_dir)
    shown = metric_names[:2]
    bar = progress.progress_bar(len(paths), "photo", stateful_metrics=shown)
    chosen = evaluation.comparison_indices(len(paths))
    rows, failed, comparison = [], [], []
    for index, path in enumerate(paths):
        try:
            row, low, ours = score_photo(path, model, output_dir, ratio, denoise, metric_names,
                                         tile)
        except Exception as error:  # noqa: BLE001 - any failure of one photo of several
            print(f"\nskipped: {enhance.failure_reason(path, error)}", file=sys.stderr)
            failed.append(path)
        else:
            rows.append(row)
            if index in chosen:
                comparison.append(contact_row(low, ours, row))
        bar.update(index + 1, [(key, evaluation.means(rows, (key,))[key])
                                    for key in shown if rows])
    if not rows:
        raise UserError(f"none of the {len(paths)} photos of --data_dir '{data_dir}' could be "
                        "evaluated (see the lines above)")
    report = {
        "mean": evaluation.means(rows, metric_names),
        "input": {"mean": evaluation.means(rows, metric_names, "input_")},
        "images": rows,
        "failed": failed,
        "protocol": {**protocol(ratio, denoise, data_dir), **(details or {}),
                     "images": len(rows), "metrics": list(metric_names), "tile": tile},
    }
    outputs.write_json(os.path.join(output_dir, "metrics.json"), report)
    outputs.write_csv(os.path.join(output_dir, "metrics.csv"), rows, csv_columns(metric_names))
    if comparison:
        outputs.write_png(os.path.join(output_dir, "comparison.png"),
                          evaluation.stack_rows(comparison))
    return report


def set_name(data_dir):
    """The name of the set a folder holds: its own name ("LIME" for ~/data/unpaired/LIME/)."""
    return os.path.basename(os.path.normpath(data_dir))


def format_table(report):
    """This run's mean metrics and the input's, beside the KinD paper's for the set if known."""
    label = evaluation.ratio_label(report["protocol"]["setting"])
    name = set_name(report["protocol"]["data_dir"])
    names = report["protocol"]["metrics"]
    published = [(f"KinD (paper), {name}", PUBLISHED[name])] if name in PUBLISHED else []
    lines = [f"protocol: {report['protocol']['name']}, {name}, {report['protocol']['images']} "
             f"photos", *evaluation.table_lines(
                 [(label, report["mean"]), ("input (low-light photo)", report["input"]["mean"])],
                 names, published)]
    if not published:
        lines.append(f"(the KinD paper's numbers for {name} are not transcribed: "
                     "docs/no_reference.md)")
    return "\n".join(lines)


def default_output_dir(data_dir):
    """results/<set name>: where a run writes unless told otherwise."""
    return os.path.join("results", set_name(data_dir))
