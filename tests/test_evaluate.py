"""Tests for evaluate.py, the script: eval15 end to end, and its one-line user errors."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from conftest import REPO_ROOT, skimage_ssim
from kind_tf import image_io, outputs


def run_evaluate(*args):
    return subprocess.run([sys.executable, "evaluate.py", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True)


@pytest.mark.slow
def test_eval15_end_to_end(lol_dir, reference_ckpt_root, tmp_path):
    result = run_evaluate("--ckpt", reference_ckpt_root, "--data_dir", f"{lol_dir}/eval15",
                          "--output_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "device: CPU" in result.stdout or "device: GPU" in result.stdout
    assert "protocol: LOL GT-ratio (evaluate_LOLdataset.py), 15 images" in result.stdout
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert len(report["images"]) == 15
    # Independent computation on the written PNGs against the 8-bit ground truth.
    for row in report["images"]:
        ours = np.asarray(Image.open(tmp_path / f"{row['name']}_kindle.png"))
        truth = image_io.read_rgb(f"{lol_dir}/eval15/high/{row['name']}.png")
        assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(truth, ours, data_range=255))
        assert row["ssim"] == pytest.approx(skimage_ssim(ours, truth), abs=1e-9)
        gray_ours, gray_truth = (np.asarray(Image.fromarray(x).convert("L")) for x in (ours, truth))
        assert row["ssim_gray"] == pytest.approx(
            skimage_ssim(gray_ours, gray_truth, channel_axis=None), abs=1e-9)
    for key in ("psnr", "ssim", "ssim_gray"):
        assert report["mean"][key] == pytest.approx(np.mean([r[key] for r in report["images"]]))
    with open(tmp_path / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [float(r["psnr"]) for r in rows] == pytest.approx([r["psnr"] for r in report["images"]])
    table_row = next(line for line in result.stdout.splitlines()
                     if line.startswith("GT ratio (authors' protocol)"))
    assert table_row.split()[-3:] == [f"{report['mean'][key]:.{digits}f}" for key, digits
                                      in (("psnr", 2), ("ssim", 3), ("ssim_gray", 3))]
    assert os.path.exists(tmp_path / "comparison.png")


@pytest.mark.slow
def test_without_restoration_matches_the_reference_measurement(lol_dir, reference_dir, tmp_path):
    # kind_reference/README.md measured eval15 with output = R_low * L_adjusted (authors' decom
    # and adjust weights, GT-ratio protocol, 8-bit outputs): PSNR 18.33, SSIM 0.605. No
    # Restoration_net_train/ is needed.
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for folder in ("decom_net_train", "illumination_adjust_net_train"):
        os.symlink(os.path.join(reference_dir, "checkpoint", folder), ckpt / folder)
    result = run_evaluate("--ckpt", str(ckpt), "--norestoration", "--data_dir",
                          f"{lol_dir}/eval15", "--output_dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert round(report["mean"]["psnr"], 2) == 18.33
    assert round(report["mean"]["ssim"], 3) == 0.605
    assert report["protocol"]["restoration"] is False


def test_missing_weights_point_at_the_shipped_ones(lol_dir, tmp_path):
    result = run_evaluate("--ckpt", str(tmp_path / "checkpoint"), "--data_dir",
                          f"{lol_dir}/eval15", "--output_dir", str(tmp_path / "out"))
    _assert_one_line_error(result, "DecomNet", "train_decom.py", "--ckpt pretrained/")


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line


def test_missing_checkpoint_names_the_net_and_the_folder(lol_dir, reference_ckpt_root, tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for folder in ("decom_net_train", "illumination_adjust_net_train"):
        os.symlink(os.path.join(reference_ckpt_root, folder), ckpt / folder)
    result = run_evaluate("--ckpt", str(ckpt), "--data_dir", f"{lol_dir}/eval15",
                          "--output_dir", str(tmp_path / "out"))
    _assert_one_line_error(result, "Restoration_net", str(ckpt / "Restoration_net_train"),
                           "train_restoration.py")


def test_bad_ratio_and_unmatched_pairs(reference_ckpt_root, tmp_path):
    _assert_one_line_error(run_evaluate("--ratio", "bright"), "--ratio")
    for side, name in (("low", "1.png"), ("high", "2.png")):
        os.makedirs(tmp_path / side)
        outputs.save_images(str(tmp_path / side / name), np.zeros((16, 16, 3), np.float32))
    result = run_evaluate("--ckpt", reference_ckpt_root, "--data_dir", str(tmp_path),
                          "--output_dir", str(tmp_path / "out"))
    _assert_one_line_error(result, "no partner", "1.png")


def test_no_reference_end_to_end(reference_dir, reference_ckpt_root, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    os.symlink(os.path.join(reference_dir, "test_images", "4.bmp"), photos / "4.bmp")
    (photos / "broken.png").write_bytes(b"not an image")
    result = run_evaluate("--ckpt", reference_ckpt_root, "--no_reference", "--data_dir",
                          str(photos), "--output_dir", str(tmp_path / "out"), "--ratio", "3")
    _assert_one_line_error(result, "1 of 2 photos could not be evaluated",
                           str(photos / "broken.png"))
    assert f"skipped: cannot read image '{photos / 'broken.png'}'" in result.stderr
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert [row["name"] for row in report["images"]] == ["4"]
    assert report["images"][0]["ratio"] == 3.0 and report["protocol"]["denoise"] is True
    table = result.stdout.splitlines()
    row = next(line for line in table if line.startswith("ratio 3 "))
    assert row.split()[-2:] == [f"{report['mean']['loe']:.1f}", f"{report['mean']['niqe']:.3f}"]
    assert os.path.exists(tmp_path / "out" / "comparison.png")


@pytest.mark.parametrize("args,fragments", [
    (("--no_reference", "--ratio", "gt"), ("--ratio gt needs a ground truth",)),
    (("--no_reference", "--pairs", ":2"), ("--pairs selects LOL pairs",)),
    (("--no_reference", "--metrics", "psnr"), ("--metrics takes", "loe, niqe", "'psnr'")),
    (("--nodenoise",), ("--denoise/--nodenoise is for --no_reference",)),
    (("--metrics", "psnr,brisque"), ("--metrics takes", "'psnr,brisque'")),
])
def test_bad_no_reference_flags(args, fragments):
    _assert_one_line_error(run_evaluate(*args), *fragments)
