"""Tests for kind_tf.no_reference: photos without ground truth, enhanced and scored."""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from kind_tf import Ratio, enhance, evaluation, image_io, metrics, niqe, no_reference, outputs
from kind_tf.errors import UserError


@pytest.fixture(scope="module")
def photos(reference_dir, tmp_path_factory):
    """Two of the original's test photos, a photo too small for NIQE and a broken file."""
    folder = tmp_path_factory.mktemp("photos")
    for name in ("4.bmp", "04.JPG"):
        shutil.copy(os.path.join(reference_dir, "test_images", name), folder / name)
    small = image_io.read_rgb(os.path.join(reference_dir, "test_images", "4.bmp"))[:64, :80]
    Image.fromarray(small).save(folder / "small.png")
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


@pytest.fixture(scope="module")
def run(photos, reference_model, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("scored")
    report = no_reference.evaluate_photos(reference_model, str(photos), str(output_dir),
                                          details={"ckpt": "reference"})
    return report, output_dir


def test_results_are_kind_tf_enhance_results(run, photos, reference_model, tmp_path):
    report, output_dir = run
    assert [row["name"] for row in report["images"]] == ["04", "4"]
    for row, source in zip(report["images"], ("04.JPG", "4.bmp")):
        image = image_io.load_image(str(photos / source))[None]
        assert row["ratio"] == pytest.approx(Ratio("auto").resolve(reference_model, image))
        expected = enhance.enhance_file(str(photos / source), reference_model, str(tmp_path),
                                        row["ratio"])
        saved = image_io.read_rgb(output_dir / f"{row['name']}_kindle.png")
        np.testing.assert_array_equal(saved, image_io.read_rgb(expected))


def test_scores_are_the_metrics_of_the_saved_results(run, photos):
    report, output_dir = run
    for row, source in zip(report["images"], ("04.JPG", "4.bmp")):
        ours = image_io.read_rgb(output_dir / f"{row['name']}_kindle.png")
        low = image_io.read_rgb(photos / source)
        assert row["niqe"] == niqe.niqe(ours)
        assert row["loe"] == metrics.lightness_order_error(low, ours)
        assert (row["input_niqe"], row["input_loe"]) == (niqe.niqe(low), 0)
    assert report["mean"]["niqe"] == pytest.approx(np.mean([r["niqe"] for r in report["images"]]))
    assert report["input"]["mean"]["loe"] == 0


def test_bad_photos_are_reported_and_skipped(run, photos):
    report, _ = run
    assert report["failed"] == [str(photos / "broken.png"), str(photos / "small.png")]
    assert report["protocol"]["images"] == 2


def test_report_files(run):
    report, output_dir = run
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    assert report["protocol"]["setting"] == "auto" and report["protocol"]["denoise"] is True
    assert report["protocol"]["ckpt"] == "reference"
    lines = (output_dir / "metrics.csv").read_text().splitlines()
    assert lines[0] == "name,loe,niqe,ratio,input_loe,input_niqe" and len(lines) == 3
    comparison = image_io.read_rgb(output_dir / "comparison.png")
    assert comparison.shape[0] == 2 * evaluation.COMPARISON_HEIGHT


def test_table(run):
    report, _ = run
    lines = no_reference.format_table(report).splitlines()
    assert lines[0].endswith(", 2 photos") and lines[1].split() == ["LOE", "NIQE"]
    assert lines[2].split() == ["ratio", "auto", f"{report['mean']['loe']:.1f}",
                                f"{report['mean']['niqe']:.3f}"]
    assert lines[3].split()[-1] == f"{report['input']['mean']['niqe']:.3f}"
    assert "not transcribed" in lines[-1]


def test_fixed_ratio_without_post_processing(photos, reference_model, tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(photos / "4.bmp", folder / "4.bmp")
    report = no_reference.evaluate_photos(reference_model, str(folder), str(tmp_path / "out"),
                                          ratio=2.0, denoise=False, metric_names=("niqe",))
    row = report["images"][0]
    assert row["ratio"] == 2.0 and set(row) == {"name", "niqe", "ratio", "input_niqe"}
    expected = outputs.to_uint8(reference_model.enhance(
        image_io.load_image(str(folder / "4.bmp"))[None], 2.0, denoise=False).numpy())
    saved = image_io.read_rgb(tmp_path / "out" / "4_kindle.png")
    np.testing.assert_array_equal(saved, expected[0])


def test_nothing_evaluable_is_one_error(photos, reference_model, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(photos / "broken.png", folder / "broken.png")
    with pytest.raises(UserError, match="none of the 1 photos of --data_dir"):
        no_reference.evaluate_photos(reference_model, str(folder), str(tmp_path / "out"))
    with pytest.raises(UserError, match="--data_dir folder .* holds no images"):
        no_reference.evaluate_photos(reference_model, str(tmp_path / "out"), str(tmp_path))


def test_set_name_and_default_output():
    assert no_reference.set_name("/data/unpaired/LIME/") == "LIME"
    assert no_reference.default_output_dir("/data/unpaired/LIME") == os.path.join("results",
                                                                                "LIME")
