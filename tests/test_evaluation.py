"""Tests for kind_tf.evaluation: the authors' LOL protocol, its outputs, table and errors."""

import json
import os
import shutil

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from kind_tf import evaluation, image_io, metrics, niqe, outputs
from kind_tf.errors import UserError


def original_lol_output(low_path, high_path, nets):
    """evaluate_LOLdataset.py for one pair, net by net, with its truncating save_images."""
    decom, restoration, adjust = nets
    low, high = image_io.load_image(low_path)[None], image_io.load_image(high_path)[None]
    r_low, i_low = (x.numpy() for x in decom(low))
    ratio = np.mean(decom(high)[1].numpy() / (i_low + 0.0001))
    adjusted = adjust([i_low, np.full(i_low.shape, ratio, np.float32)]).numpy()
    fusion = restoration([r_low, i_low]).numpy() * adjusted
    return np.clip(fusion[0] * 255.0, 0, 255.0).astype("uint8"), ratio


def luma_mean_scaled(image, reference):
    """The GT-mean protocol written out: `image` scaled so that its mean ITU-R 601 luma
    (0.299 R + 0.587 G + 0.114 B, as cv2's RGB2GRAY) equals `reference`'s, on [0, 1] values,
    clipped, rounded to 8 bits."""
    def mean_luma(pixels):
        pixels = np.asarray(pixels, np.float64) / 255
        return np.mean(0.299 * pixels[..., 0] + 0.587 * pixels[..., 1] + 0.114 * pixels[..., 2])

    scale = mean_luma(reference) / mean_luma(image)
    return np.round(np.clip(np.asarray(image, np.float64) / 255 * scale, 0, 1) * 255)


@pytest.fixture(scope="module")
def two_images(lol_dir, reference_model, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("eval")
    report = evaluation.evaluate(reference_model, f"{lol_dir}/eval15", str(output_dir), selection=slice(2),
                                 details={"ckpt": "reference"}, verbose=0)
    return report, output_dir


def test_outputs_are_the_original_protocol(two_images, lol_dir, reference_nets):
    report, output_dir = two_images
    for row in report["images"]:
        low_path = f"{lol_dir}/eval15/low/{row['name']}.png"
        expected, ratio = original_lol_output(low_path, low_path.replace("/low/", "/high/"),
                                              reference_nets)
        assert row["ratio"] == pytest.approx(ratio, rel=1e-5)
        saved = image_io.read_rgb(output_dir / f"{row['name']}_kindle.png")
        # The nets agree to ~1e-6, so a truncated value may rarely land one level apart.
        assert np.abs(saved.astype(int) - expected).max() <= 1
        assert np.mean(saved != expected) < 1e-3


def test_report_files(two_images):
    report, output_dir = two_images
    assert [row["name"] for row in report["images"]] == ["1", "111"]  # sorted by name
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    assert report["mean"]["psnr"] == pytest.approx(np.mean([r["psnr"] for r in report["images"]]))
    assert report["protocol"]["ckpt"] == "reference" and report["protocol"]["images"] == 2
    csv_lines = (output_dir / "metrics.csv").read_text().splitlines()
    assert csv_lines[0] == (
        "name,psnr,ssim,ssim_gray,ratio,auto_ratio,fixed_ratio_psnr,fixed_ratio_ssim,"
        "fixed_ratio_ssim_gray,auto_ratio_psnr,auto_ratio_ssim,auto_ratio_ssim_gray,"
        "gt_mean_psnr,gt_mean_ssim,gt_mean_ssim_gray,enhance_default_psnr,"
        "enhance_default_ssim,enhance_default_ssim_gray,input_psnr,input_ssim,input_ssim_gray"
    ) and len(csv_lines) == 3
    comparison = image_io.read_rgb(output_dir / "comparison.png")
    assert comparison.shape == (2 * evaluation.COMPARISON_HEIGHT, 3 * 300, 3)


def test_table_shows_this_run_beside_the_published_numbers(two_images):
    report = two_images[0]
    lines = evaluation.format_table(report).splitlines()
    assert lines[0] == "protocol: LOL GT-ratio (evaluate_LOLdataset.py), 2 images"
    assert lines[1].split() == ["PSNR", "SSIM", "SSIM", "gray"]
    rows = {line[:30].strip(): line[30:].split() for line in lines[2:10]}
    means = {"GT ratio (authors' protocol)": report["mean"],
             "ratio 5": report["variants"]["fixed_ratio"]["mean"],
             "ratio auto": report["variants"]["auto_ratio"]["mean"],
             "GT mean (of the first row)": report["variants"]["gt_mean"]["mean"],
             "kind_tf.enhance default": report["variants"]["enhance_default"]["mean"],
             "input (low-light photo)": report["variants"]["input"]["mean"]}
    for name, mean in means.items():
        assert rows[name] == [f"{mean['psnr']:.2f}", f"{mean['ssim']:.3f}",
                              f"{mean['ssim_gray']:.3f}"]
    assert rows["KinD (paper)"] == ["20.87", "0.80", "-"]
    assert rows["KinD++ (paper)"] == ["21.30", "0.82", "-"]


def test_variants_fixed_ratio_and_gt_mean(two_images, lol_dir, reference_model, tmp_path):
    report, output_dir = two_images
    fixed = evaluation.evaluate(reference_model, f"{lol_dir}/eval15", str(tmp_path), ratio=5.0,
                                selection=slice(2), verbose=0)
    # The fixed-ratio variant scores exactly what a --ratio 5 run scores, the auto variant
    # what a --ratio auto run scores.
    assert report["variants"]["fixed_ratio"]["mean"] == fixed["mean"]
    automatic = evaluation.evaluate(reference_model, f"{lol_dir}/eval15", str(tmp_path / "auto"),
                                    ratio="auto", selection=slice(2), verbose=0)
    assert report["variants"]["auto_ratio"]["mean"] == automatic["mean"]
    assert [row["ratio"] for row in automatic["images"]] == [
        row["auto_ratio"] for row in report["images"]]
    assert automatic["protocol"]["name"].startswith("auto ratio")
    for row in report["images"]:
        ours = image_io.read_rgb(output_dir / f"{row['name']}_kindle.png")
        truth = image_io.read_rgb(f"{lol_dir}/eval15/high/{row['name']}.png")
        expected = peak_signal_noise_ratio(truth, luma_mean_scaled(ours, truth).astype(np.uint8),
                                           data_range=255)
        np.testing.assert_allclose(row["gt_mean_psnr"], expected, rtol=1e-12)
        assert row["gt_mean_psnr"] != row["psnr"]
    means = report["variants"]["gt_mean"]["mean"]
    assert means["psnr"] == pytest.approx(np.mean([r["gt_mean_psnr"] for r in report["images"]]))


def test_enhance_default_variant_scores_what_kind_tf_enhance_writes(two_images, lol_dir,
                                                                    reference_model):
    report = two_images[0]
    for row in report["images"]:
        low = image_io.load_image(f"{lol_dir}/eval15/low/{row['name']}.png")[None]
        truth = image_io.read_rgb(f"{lol_dir}/eval15/high/{row['name']}.png")
        # kind_tf.enhance's defaults: ratio 5.0, the original post-processing on.
        enhanced = outputs.to_uint8(reference_model.enhance(low, 5.0).numpy())[0]
        # The evaluation relights the nets' outputs in a graph of its own: float noise may
        # move a truncated level (1e-6 dB each), another output moves the PSNR by decibels.
        assert row["enhance_default_psnr"] == pytest.approx(metrics.psnr(enhanced, truth),
                                                            abs=1e-4)
        assert row["enhance_default_psnr"] != row["fixed_ratio_psnr"]  # post-processing differs
    assert report["variants"]["enhance_default"]["ratio"] == 5.0


def test_loe_niqe_and_the_input_are_scored_when_asked(lol_dir, reference_model, tmp_path):
    report = evaluation.evaluate(reference_model, f"{lol_dir}/eval15", str(tmp_path),
                                 selection=slice(1), verbose=0,
                                 metric_names=("psnr", "loe", "niqe"))
    row = report["images"][0]
    ours = image_io.read_rgb(tmp_path / "1_kindle.png")
    low = image_io.read_rgb(f"{lol_dir}/eval15/low/1.png")
    truth = image_io.read_rgb(f"{lol_dir}/eval15/high/1.png")
    assert row["loe"] == metrics.lightness_order_error(low, ours) > 0
    assert row["niqe"] == niqe.niqe(ours)
    assert (row["input_psnr"], row["input_loe"], row["input_niqe"]) == (
        metrics.psnr(low, truth), 0, niqe.niqe(low))
    assert set(report["mean"]) == {"psnr", "loe", "niqe"}
    assert report["protocol"]["metrics"] == ["psnr", "loe", "niqe"]
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith(
        "name,psnr,loe,niqe,ratio,auto_ratio,fixed_ratio_psnr,fixed_ratio_loe,")
    lines = evaluation.format_table(report).splitlines()
    assert lines[1].split() == ["PSNR", "LOE", "NIQE"]
    assert lines[-3].split()[-3:] == ["20.87", "-", "-"]  # KinD paper: PSNR only


def test_metrics_flag_parsing():
    assert evaluation.parse_metrics("niqe, LOE,niqe") == ("niqe", "loe")
    for text in ("", "psnr,brisque"):
        with pytest.raises(UserError, match="--metrics takes a comma-separated list of psnr"):
            evaluation.parse_metrics(text)


def test_gt_mean_scaling_matches_the_luma_means():
    rng = np.random.default_rng(0)
    truth = rng.integers(40, 200, (16, 16, 3)).astype(np.uint8)
    # Darker and colour-cast: another gray gives another scale (the plain channel mean +4%,
    # BT.709's weights +1%, red alone -16%: 11, 3 and 39 levels off at most).
    cast = np.round(truth * np.array([0.5, 0.4, 0.3])).astype(np.uint8)
    scaled = evaluation.gt_mean_scaled(cast, truth)
    assert scaled.dtype == np.uint8
    np.testing.assert_array_equal(scaled, luma_mean_scaled(cast, truth))
    assert scaled.max() < 255  # No clipping here, so the luma means agree to the rounding.
    luma = np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(np.mean(scaled @ luma), np.mean(truth @ luma), atol=0.5)
    # Bright pixels clip at 255 rather than wrap.
    assert evaluation.gt_mean_scaled(np.full((2, 2, 3), 200, np.uint8),
                                     np.full((2, 2, 3), 250, np.uint8)).max() == 250


def test_progress_ends_on_the_mean(two_images, lol_dir, reference_model, tmp_path, capsys):
    report = evaluation.evaluate(reference_model, f"{lol_dir}/eval15", str(tmp_path), selection=slice(2),
                                 verbose=2)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"psnr: {report['mean']['psnr']:.4f}" in last
    assert f"psnr: {report['images'][-1]['psnr']:.4f}" not in last


def test_fixed_ratio_is_used_for_every_image(lol_dir, reference_model, tmp_path):
    report = evaluation.evaluate(reference_model, f"{lol_dir}/eval15", str(tmp_path), ratio=2.5,
                                 selection=slice(1), verbose=0)
    assert report["images"][0]["ratio"] == 2.5
    assert report["protocol"]["name"] == "fixed ratio 2.5"


def test_comparison_rows_of_different_widths_stack():
    rows = [np.full((2, 3, 3), 9, np.uint8), np.full((2, 5, 3), 7, np.uint8)]
    stacked = evaluation.stack_rows(rows)
    assert stacked.shape == (4, 5, 3)
    assert (stacked[:2, 3:] == 0).all() and (stacked[2:] == 7).all()


def test_pairs_of_different_sizes_are_refused(lol_dir, reference_model, tmp_path):
    for side in ("low", "high"):
        os.makedirs(tmp_path / "split" / side)
    shutil.copy(f"{lol_dir}/eval15/low/1.png", tmp_path / "split/low/1.png")
    outputs.save_images(str(tmp_path / "split/high/1.png"), np.zeros((40, 60, 3), np.float32))
    with pytest.raises(UserError, match="differ in size"):
        evaluation.evaluate(reference_model, str(tmp_path / "split"), str(tmp_path / "out"),
                            verbose=0)


def test_selection_of_pairs(lol_dir, reference_model, tmp_path):
    assert evaluation.parse_selection("466:485") == slice(466, 485)
    assert evaluation.parse_selection(":2") == slice(None, 2)
    assert evaluation.selection_text(slice(None, 2)) == ":2"
    for text in ("2", "a:b", "1:2:3"):
        with pytest.raises(UserError, match="--pairs must be START:END"):
            evaluation.parse_selection(text)
    report = evaluation.evaluate(reference_model, f"{lol_dir}/eval15", str(tmp_path / "last"),
                                 selection=slice(-1, None), verbose=0)
    assert [row["name"] for row in report["images"]] == ["79"]  # last by name
    assert report["protocol"]["pairs"] == "-1:"
    with pytest.raises(UserError, match="--pairs selects none of the 15 pairs"):
        evaluation.evaluate(reference_model, f"{lol_dir}/eval15", str(tmp_path),
                            selection=slice(20, 30))
