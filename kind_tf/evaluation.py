"""The authors' LOL evaluation (`evaluate_LOLdataset.py`) with metrics, table and comparison.

Per low/high pair: normalize both (the original `load_images`), ratio = the ground-truth
ratio `mean(L_high / (L_low + 1e-4))` or a fixed number, output `R_restored * L_adjusted`
(no post-processing), saved as `<name>_kindle.png` with the original's truncating 8-bit
conversion. PSNR and SSIM are measured on that saved PNG against the 8-bit ground truth.

The same run also scores the variants that papers report, so one run gives the whole table:
a fixed ratio (5.0, the original `evaluate.py`'s light level: no ground truth used), the
automatic ratio, the GT-mean protocol of later papers (Retinexformer's `--GT_mean`, also
LLFlow's): the output scaled so that its gray mean equals the ground truth's, which factors the
light level out; what `kind_tf.enhance` gives a user by default (the fixed ratio with the
original post-processing); and the low-light input itself. The metrics are any of `metrics.NAMES` (PSNR
and SSIM by default; LOE against the low-light input and NIQE need no ground truth).
"""

import os

import numpy as np
from PIL import Image, ImageDraw

from kind_tf import image_io, kind, lol_pairs, metrics, outputs, progress
from kind_tf.errors import UserError

# Published eval15 results (GT-ratio protocol): KinD (ACM MM 2019) and KinD++ (IJCV 2021).
# The KinD paper's LOE and NIQE on LOL are not transcribed (docs/no_reference.md).
PUBLISHED = (("KinD (paper)", {"psnr": 20.87, "ssim": 0.80}),
             ("KinD++ (paper)", {"psnr": 21.30, "ssim": 0.82}))
METRIC_NAMES = metrics.FULL_REFERENCE
# The original evaluate.py enhances its test photos at this ratio.
FIXED_RATIO = kind.DEFAULT_RATIO
VARIANTS = ("fixed_ratio", "auto_ratio", "gt_mean", "enhance_default", "input")
# ITU-R 601 luma, the gray of the GT-mean scaling (as cv2's RGB2GRAY).
LUMA = (0.299, 0.587, 0.114)
# The comparison image: this many rows (spread over the set), each tile this many px high.
COMPARISON_ROWS = 4
COMPARISON_HEIGHT = 200


def csv_columns(names=METRIC_NAMES):
    """metrics.csv's columns for the metrics `names`."""
    return ("name", *names, "ratio", "auto_ratio",
            *(f"{variant}_{key}" for variant in VARIANTS for key in names))


def parse_metrics(text, allowed=metrics.NAMES, flag="--metrics"):
    """`--metrics` ("psnr,ssim,niqe"): the names, each of `allowed`, in the given order."""
    names = tuple(dict.fromkeys(name.strip().lower() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise UserError(f"{flag} takes a comma-separated list of {', '.join(allowed)}; got "
                        f"'{text}'")
    return names


def ratio_label(ratio):
    """How the table names a ratio setting: None (GT), "auto" or a number."""
    if ratio is None:
        return "GT ratio (authors' protocol)"
    return "ratio auto" if ratio == "auto" else f"ratio {ratio:g}"


def protocol(ratio, data_dir):
    """What a run at `kind.Ratio` `ratio` measured, for metrics.json and the printed table."""
    target_brightness = ratio.target_brightness
    if ratio.rule == "gt":
        name, description = ("LOL GT-ratio (evaluate_LOLdataset.py)",
                             "gt: mean(L_high / (L_low + 1e-4)) per image")
    elif ratio.rule == "auto":
        name, description = (f"auto ratio (target brightness {target_brightness:g})",
                             f"auto: {target_brightness:g} / mean(L_low) per image")
    else:
        name, description = f"fixed ratio {ratio.rule:g}", ratio.rule
    return {
        "name": name,
        "setting": ratio.setting,
        "ratio": description,
        "output": "R_restored * L_adjusted (no post-processing), uint8(clip(255 x)) PNG",
        "psnr": "RGB, data range 255",
        "ssim": "11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, per RGB channel, averaged",
        "ssim_gray": "same SSIM on PIL convert('L') grayscale",
        "loe": "lightness order error against the low-light input, 100x100 samples (LIME)",
        "niqe": "NIQE, MATLAB release (rgb2gray), pristine model of the release",
        "data_dir": data_dir,
    }


def gt_mean_scaled(image, reference):
    """`image` (uint8 RGB) scaled so its gray mean equals `reference`'s, clipped, as uint8.

    The GT-mean protocol: `clip(x * mean(gray(gt)) / mean(gray(x)), 0, 1)` on [0, 1] images,
    then rounded to 8 bits for the metrics.
    """
    x, y = (np.asarray(a, np.float64) / 255 for a in (image, reference))
    scale = np.mean(y @ LUMA) / max(np.mean(x @ LUMA), 1e-12)
    return np.round(np.clip(x * scale, 0, 1) * 255).astype(np.uint8)


def labelled_tile(pixels, label):
    """`pixels` scaled to the comparison height, with `label` written in its corner."""
    image = Image.fromarray(pixels)
    width = round(image.width * COMPARISON_HEIGHT / image.height)
    image = image.resize((width, COMPARISON_HEIGHT), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    draw.rectangle(draw.textbbox((4, 4), label), fill=(0, 0, 0))
    draw.text((4, 4), label, fill=(255, 255, 255))
    return np.asarray(image)


def comparison_row(low, ours, truth, name, psnr):
    """low | ours | ground truth, side by side, downscaled and labelled (uint8)."""
    tiles = (labelled_tile(low, f"{name} low"), labelled_tile(ours, f"ours {psnr:.2f} dB"),
             labelled_tile(truth, "ground truth"))
    return np.concatenate(tiles, axis=1)


def stack_rows(rows):
    """Rows of comparison tiles one under the other, narrower rows padded black at the right."""
    width = max(row.shape[1] for row in rows)
    padded = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))) for row in rows]
    return np.concatenate(padded)


def comparison_indices(count):
    """The indices of the `COMPARISON_ROWS` items of `count` shown in comparison.png."""
    return set(np.linspace(0, count - 1, min(COMPARISON_ROWS, count)).round().astype(int))


def parse_selection(text):
    """`--pairs START:END` (Python slice bounds, either may be left out) as a `slice`."""
    bounds = text.split(":")
    try:
        if len(bounds) != 2:
            raise ValueError
        start, end = (int(bound) if bound.strip() else None for bound in bounds)
    except ValueError:
        raise UserError(f"--pairs must be START:END (e.g. 466:485 or :2), got '{text}'") from None
    return slice(start, end)


def selection_text(selection):
    """A slice as `--pairs` spells it."""
    return ":".join("" if bound is None else str(bound) for bound in (selection.start,
                                                                     selection.stop))


def evaluate(model, data_dir, output_dir, ratio="gt", selection=slice(None), details=None,
             verbose=1, fixed_ratio=FIXED_RATIO, metric_names=METRIC_NAMES):
    """Runs the LOL protocol over the pairs of `data_dir` and writes results to `output_dir`.

    `model` is a `kind.KinD`; `ratio` a `kind.Ratio` or its rule: "gt" the GT-ratio protocol,
    "auto" the automatic light level, a number a fixed ratio; `selection` (a slice of the
    pairs sorted by name, see `parse_selection`) evaluates only those; `details` (e.g. the
    checkpoint) go into the protocol record; `metric_names` (of `metrics.NAMES`) are the
    metrics measured. Each pair is also scored at `fixed_ratio`, at "auto" (the target
    brightness of `ratio`), under the GT-mean protocol and as the low-light input itself
    (`report["variants"]`); the nets before the adjustment run once per pair for all of
    them. Writes the PNGs, `metrics.json`, `metrics.csv` and `comparison.png`, and returns
    the metrics.json content.
    """
    ratio = kind.Ratio.of(ratio)
    every_pair = lol_pairs.list_pairs(data_dir)
    pairs = every_pair[selection]
    if not pairs:
        raise UserError(f"--pairs selects none of the {len(every_pair)} pairs of '{data_dir}'")
    fixed = kind.Ratio(fixed_ratio, ratio.target_brightness)
    variants = [(ratio, False), (fixed, False), (kind.Ratio("auto", ratio.target_brightness),
                                                 False), (fixed, True)]
    outputs.make_output_dir(output_dir)
    # The running means are passed in as "stateful" values: Keras' own averaging shows the
    # last image's value on the final line.
    shown = metric_names[:2]
    bar = progress.progress_bar(len(pairs), "image", stateful_metrics=shown, verbose=verbose)
    chosen = comparison_indices(len(pairs))
    rows, comparison = [], []
    for index, (low_path, high_path) in enumerate(pairs):
        low, truth = image_io.load_image(low_path)[None], image_io.read_rgb(high_path)
        if low.shape[1:] != truth.shape:
            raise UserError(f"'{low_path}' and its ground truth '{high_path}' differ in size")
        high = image_io.normalize_pixels(truth)[None] if ratio.rule == "gt" else None
        images, (image_ratio, _, auto, _) = model.enhance_variants(low, variants, high)
        output, fixed_output, auto_output, default = (image.numpy() for image in images)
        name, path = outputs.result_name(low_path), outputs.kindle_path(low_path, output_dir)
        outputs.save_images(path, output)
        ours, low_pixels = image_io.read_rgb(path), image_io.read_rgb(low_path)
        row = {"name": name, **metrics.compute(metric_names, ours, truth, low_pixels),
               "ratio": image_ratio, "auto_ratio": auto}
        for variant, image in (("fixed_ratio", outputs.to_uint8(fixed_output)[0]),
                               ("auto_ratio", outputs.to_uint8(auto_output)[0]),
                               ("gt_mean", gt_mean_scaled(ours, truth)),
                               ("enhance_default", outputs.to_uint8(default)[0]),
                               ("input", low_pixels)):
            row.update({f"{variant}_{key}": value for key, value
                        in metrics.compute(metric_names, image, truth, low_pixels).items()})
        rows.append(row)
        if index in chosen:
            comparison.append(comparison_row(low_pixels, ours, truth, name,
                                             metrics.psnr(ours, truth)))
        bar.update(index + 1, [(key, np.mean([r[key] for r in rows])) for key in shown])
    report = {
        "mean": means(rows, metric_names),
        "images": rows,
        "protocol": {**protocol(ratio, data_dir), **(details or {}),
                     "pairs": selection_text(selection), "images": len(rows),
                     "metrics": list(metric_names)},
        "variants": {
            "fixed_ratio": {"mean": means(rows, metric_names, "fixed_ratio_"),
                            "ratio": fixed_ratio},
            "auto_ratio": {"mean": means(rows, metric_names, "auto_ratio_"), "ratio": "auto",
                           "target_brightness": ratio.target_brightness},
            "gt_mean": {"mean": means(rows, metric_names, "gt_mean_"),
                        "protocol": "the output above scaled to the ground truth's gray mean "
                                    "(ITU-R 601 luma), clipped, 8-bit"},
            "enhance_default": {"mean": means(rows, metric_names, "enhance_default_"),
                                "ratio": fixed_ratio,
                                "protocol": "kind_tf.enhance's default: the fixed ratio with "
                                            "the original post-processing"},
            "input": {"mean": means(rows, metric_names, "input_"),
                      "protocol": "the low-light input itself (its LOE is 0 by definition)"},
        },
    }
    outputs.write_json(os.path.join(output_dir, "metrics.json"), report)
    outputs.write_csv(os.path.join(output_dir, "metrics.csv"), rows, csv_columns(metric_names))
    outputs.write_png(os.path.join(output_dir, "comparison.png"), stack_rows(comparison))
    return report


def means(rows, names, prefix=""):
    """{name: mean of row[prefix + name] over `rows`}; NIQE's NaN (a photo without
    features, `niqe.niqe`) is left out of its mean."""
    return {key: float(np.nanmean([row[prefix + key] for row in rows])) for key in names}


# How the tables print each metric: heading and decimals.
COLUMN_FORMATS = {"psnr": ("PSNR", 2), "ssim": ("SSIM", 3), "ssim_gray": ("SSIM gray", 3),
                  "loe": ("LOE", 1), "niqe": ("NIQE", 3)}


def table_lines(rows, names, published=(), label_width=30):
    """Lines of a table: a heading of the metrics `names`, then one line per (label, means)
    of `rows` and of `published` (whose missing metrics print "-", its decimals two)."""
    widths = [max(8, len(COLUMN_FORMATS[name][0]) + 2) for name in names]
    lines = ["".ljust(label_width) + "".join(COLUMN_FORMATS[name][0].rjust(width)
                                             for name, width in zip(names, widths))]
    for label, mean in rows:
        lines.append(label.ljust(label_width) + "".join(
            f"{mean[name]:.{COLUMN_FORMATS[name][1]}f}".rjust(width)
            for name, width in zip(names, widths)))
    for label, values in published:
        lines.append(label.ljust(label_width) + "".join(
            (f"{values[name]:.2f}" if name in values else "-").rjust(width)
            for name, width in zip(names, widths)))
    return lines


def format_table(report):
    """This run's means, its variants, and the published KinD and KinD++ rows."""
    variants = report["variants"]
    names = report["protocol"].get("metrics", METRIC_NAMES)
    rows = [
        (ratio_label(report["protocol"]["setting"]), report["mean"]),
        (ratio_label(variants["fixed_ratio"]["ratio"]), variants["fixed_ratio"]["mean"]),
        (ratio_label("auto"), variants["auto_ratio"]["mean"]),
        ("GT mean (of the first row)", variants["gt_mean"]["mean"]),
        ("kind_tf.enhance default", variants["enhance_default"]["mean"]),
        ("input (low-light photo)", variants["input"]["mean"]),
    ]
    lines = [f"protocol: {report['protocol']['name']}, {report['protocol']['images']} images",
             *table_lines(rows, names, PUBLISHED),
             "(published rows: eval15, GT-ratio protocol)"]
    return "\n".join(lines)
