"""The pair check finds pairs whose two images do not show one scene, whatever the exposure."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from kind_tf import lol_pairs, pair_check

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scene(seed, size=(96, 128)):
    """A smooth random RGB scene (uint8): blobs of light and shade, as photos have."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((size[0] // 16, size[1] // 16, 3))
    return (np.kron(coarse, np.ones((16, 16, 1))) * 255).astype(np.uint8)


def darkened(image, seed=0):
    """A short exposure of `image`: a gamma curve, a tenth of the light, noise."""
    rng = np.random.default_rng(seed)
    low = 255 * 0.1 * (image / 255.0) ** 1.6 + rng.normal(0, 2, image.shape)
    return np.clip(low, 0, 255).astype(np.uint8)


def write_split(root, pairs):
    for name, (low, high) in pairs.items():
        for side, pixels in (("low", low), ("high", high)):
            os.makedirs(os.path.join(root, side), exist_ok=True)
            Image.fromarray(pixels).save(os.path.join(root, side, name))
    return root


def test_one_scene_at_two_exposures_correlates():
    high = scene(0)
    assert pair_check.structure_correlation(darkened(high), high) > 0.9


def test_two_scenes_do_not_correlate():
    assert abs(pair_check.structure_correlation(darkened(scene(1)), scene(2))) < 0.4


def test_a_flat_image_scores_zero():
    assert pair_check.structure_correlation(np.zeros((32, 32, 3), np.uint8), scene(0)) == 0.0


def test_suspect_pairs_names_the_mismatched_and_the_unreadable(tmp_path):
    split = write_split(str(tmp_path / "split"), {
        "1.png": (darkened(scene(3)), scene(3)),
        "2.png": (darkened(scene(4)), scene(5)),
        "3.png": (darkened(scene(6)), scene(6)),
    })
    with open(os.path.join(split, "low", "4.png"), "w") as file:
        file.write("not an image")
    Image.fromarray(scene(7)).save(os.path.join(split, "high", "4.png"))
    pairs = [(os.path.join(split, "low", name), os.path.join(split, "high", name))
             for name in ("1.png", "2.png", "3.png", "4.png")]
    found = pair_check.suspect_pairs(pairs)
    assert [name for name, _, _ in found] == ["2.png", "4.png"]
    assert found[0][1] < pair_check.DEFAULT_MIN_CORRELATION
    assert "cannot read image" in found[1][2]


def test_command_writes_the_list_for_exclude_pairs(tmp_path):
    split = write_split(str(tmp_path / "split"), {
        "a.png": (darkened(scene(8)), scene(8)), "b.png": (darkened(scene(9)), scene(10)),
    })
    out = tmp_path / "suspect.txt"
    result = subprocess.run(
        [sys.executable, "-m", "kind_tf.pair_check", "--data_dir", split, "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "b.png: structure correlation" in result.stdout
    assert lol_pairs.read_exclusions(str(out)) == {"b.png"}


def test_command_reports_a_missing_folder_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kind_tf.pair_check", "--data_dir", str(tmp_path / "nope")],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: folder '{tmp_path / 'nope' / 'low'}' does not exist")
    assert "Traceback" not in result.stderr
