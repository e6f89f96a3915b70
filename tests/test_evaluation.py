"""Tests for kind_tf.evaluation: the authors' LOL protocol, its outputs, table and errors."""

import json
import os
import shutil

import numpy as np
import pytest

from kind_tf import data, evaluation
from kind_tf.errors import UserError


def original_lol_output(low_path, high_path, nets):
    """evaluate_LOLdataset.py for one pair, net by net, with its truncating save_images."""
    decom, restoration, adjust = nets
    low, high = data.load_image(low_path)[None], data.load_image(high_path)[None]
    r_low, i_low = (x.numpy() for x in decom(low))
    ratio = np.mean(decom(high)[1].numpy() / (i_low + 0.0001))
    adjusted = adjust([i_low, np.full(i_low.shape, ratio, np.float32)]).numpy()
    fusion = restoration([r_low, i_low]).numpy() * adjusted
    return np.clip(fusion[0] * 255.0, 0, 255.0).astype("uint8"), ratio


@pytest.fixture(scope="module")
def two_images(lol_dir, reference_nets, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("eval")
    report = evaluation.evaluate(reference_nets, f"{lol_dir}/eval15", str(output_dir), limit=2,
                                 details={"ckpt": "reference"}, verbose=0)
    return report, output_dir


def test_outputs_are_the_original_protocol(two_images, lol_dir, reference_nets):
    report, output_dir = two_images
    for row in report["images"]:
        low_path = f"{lol_dir}/eval15/low/{row['name']}.png"
        expected, ratio = original_lol_output(low_path, low_path.replace("/low/", "/high/"),
                                              reference_nets)
        assert row["ratio"] == pytest.approx(ratio, rel=1e-5)
        saved = data.read_rgb(output_dir / f"{row['name']}_kindle.png")
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
    assert csv_lines[0] == "name,psnr,ssim,ssim_gray,ratio" and len(csv_lines) == 3
    comparison = data.read_rgb(output_dir / "comparison.png")
    assert comparison.shape == (2 * evaluation.COMPARISON_HEIGHT, 3 * 300, 3)


def test_table_shows_this_run_beside_the_published_numbers(two_images):
    table = evaluation.format_table(two_images[0])
    assert "LOL GT-ratio" in table
    assert f"{two_images[0]['mean']['psnr']:.2f}" in table
    assert "20.87" in table and "0.80" in table and "21.30" in table and "0.82" in table


def test_fixed_ratio_is_used_for_every_image(lol_dir, reference_nets, tmp_path):
    report = evaluation.evaluate(reference_nets, f"{lol_dir}/eval15", str(tmp_path), ratio=2.5,
                                 limit=1, verbose=0)
    assert report["images"][0]["ratio"] == 2.5
    assert report["protocol"]["name"] == "fixed ratio 2.5"


@pytest.mark.slow
def test_without_restoration_matches_the_reference_measurement(lol_dir, reference_nets, tmp_path):
    # kind_reference/README.md measured eval15 with output = R_low * L_adjusted (authors' decom
    # and adjust weights, GT-ratio protocol, 8-bit outputs): PSNR 18.33, SSIM 0.605.
    decom, _, adjust = reference_nets
    report = evaluation.evaluate((decom, lambda inputs: inputs[0], adjust), f"{lol_dir}/eval15",
                                 str(tmp_path), verbose=0)
    assert round(report["mean"]["psnr"], 2) == 18.33
    assert round(report["mean"]["ssim"], 3) == 0.605


def test_comparison_rows_of_different_widths_stack():
    rows = [np.full((2, 3, 3), 9, np.uint8), np.full((2, 5, 3), 7, np.uint8)]
    stacked = evaluation.stack_rows(rows)
    assert stacked.shape == (4, 5, 3)
    assert (stacked[:2, 3:] == 0).all() and (stacked[2:] == 7).all()


@pytest.mark.parametrize("text,expected", [("gt", None), ("GT", None), ("5", 5.0), ("0.5", 0.5)])
def test_parse_ratio(text, expected):
    assert evaluation.parse_ratio(text) == expected


@pytest.mark.parametrize("text", ["bright", "0", "-1"])
def test_parse_ratio_refuses_bad_values(text):
    with pytest.raises(UserError, match="--ratio"):
        evaluation.parse_ratio(text)


def test_pairs_of_different_sizes_are_refused(lol_dir, reference_nets, tmp_path):
    for side in ("low", "high"):
        os.makedirs(tmp_path / "split" / side)
    shutil.copy(f"{lol_dir}/eval15/low/1.png", tmp_path / "split/low/1.png")
    data.save_images(str(tmp_path / "split/high/1.png"), np.zeros((40, 60, 3), np.float32))
    with pytest.raises(UserError, match="differ in size"):
        evaluation.evaluate(reference_nets, str(tmp_path / "split"), str(tmp_path / "out"),
                            verbose=0)


def test_limit_must_be_positive(lol_dir, reference_nets, tmp_path):
    with pytest.raises(UserError, match="--limit"):
        evaluation.evaluate(reference_nets, f"{lol_dir}/eval15", str(tmp_path), limit=0)
