"""Tests for kind_tf.synthesis."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import REPO_ROOT
from kind_tf import image_io, lol_pairs, synthesis


def _photo(height=40, width=60):
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    return np.stack([np.tile(ramp, (height, 1))] * 3, axis=-1).astype(np.uint8)


def test_darkens_and_adds_noise_deterministically():
    photo = _photo()
    low = synthesis.darken_and_add_noise(photo, np.random.default_rng(3))
    again = synthesis.darken_and_add_noise(photo, np.random.default_rng(3))
    assert low.dtype == np.uint8 and low.shape == photo.shape
    np.testing.assert_array_equal(low, again)
    assert low.mean() < 0.35 * photo.mean()
    # Noise: equal inputs along a column give unequal outputs.
    assert np.unique(low[:, -1, 0]).size > 1


def test_noise_free_darkening_follows_the_formula():
    photo = _photo()
    low = synthesis.darken_and_add_noise(
        photo,
        np.random.default_rng(0),
        alpha_range=(1.0, 1.0),
        beta_range=(0.5, 0.5),
        gamma_range=(2.0, 2.0),
        peak_range=(1e9, 1e9),
        read_noise_range=(0.0, 0.0),
    )
    expected = np.round(0.5 * (photo / 255.0) ** 2 * 255.0)
    np.testing.assert_allclose(low, expected, atol=1)


def test_synthesize_folder_writes_lol_layout(tmp_path):
    for name in ("a", "b"):
        Image.fromarray(_photo()).save(tmp_path / f"{name}.png")
    split = tmp_path / "out" / "our485"
    assert synthesis.synthesize_folder(image_io.list_images(str(tmp_path)), str(split), seed=1) == 2
    pairs = lol_pairs.list_pairs(str(split))
    assert [os.path.basename(low) for low, _ in pairs] == ["a.png", "b.png"]
    # One generator of the seed, drawn photo after photo in name order.
    rng = np.random.default_rng(1)
    for low, high in pairs:
        np.testing.assert_array_equal(image_io.read_rgb(high), _photo())
        np.testing.assert_array_equal(image_io.read_rgb(low),
                                      synthesis.darken_and_add_noise(_photo(), rng))


def test_cli(tmp_path):
    Image.fromarray(_photo()).save(tmp_path / "photo.png")
    command = [sys.executable, "-m", "kind_tf.synthesis", "--output_dir", str(tmp_path / "pairs")]
    ok = subprocess.run(command + ["--input", str(tmp_path / "photo.png"), "--seed", "5"],
                        cwd=REPO_ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "wrote 1 low/high pairs" in ok.stdout
    np.testing.assert_array_equal(image_io.read_rgb(tmp_path / "pairs" / "high" / "photo.png"),
                                  _photo())
    np.testing.assert_array_equal(
        image_io.read_rgb(tmp_path / "pairs" / "low" / "photo.png"),
        synthesis.darken_and_add_noise(_photo(), np.random.default_rng(5)))
    bad = subprocess.run(
        command + ["--input", str(tmp_path / "missing")], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("error: --input")
