"""Tests for kind_tf.export: the SavedModel of the whole enhancer, reloaded and compared."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from kind_tf import export, image_io, pipeline


@pytest.fixture(scope="module")
def saved_model(reference_nets, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("export") / "kind")
    export.export(reference_nets, directory)
    return directory


@pytest.fixture(scope="module")
def pixels(reference_dir):
    return image_io.read_rgb(f"{reference_dir}/test_images/4.bmp")[None, 100:160, 50:131]


def test_round_trip_equals_pipeline_enhance(saved_model, reference_nets, pixels):
    loaded = tf.saved_model.load(saved_model)
    result = loaded.signatures["serving_default"](image=tf.constant(pixels), ratio=tf.constant(4.0))
    expected = pipeline.enhance(image_io.normalize(pixels / np.float32(255.0)), *reference_nets, 4.0)
    np.testing.assert_allclose(result["enhanced"], expected, atol=1e-5)
    truncated = np.clip(result["enhanced"].numpy() * 255.0, 0, 255.0).astype("uint8")
    np.testing.assert_array_equal(result["enhanced_uint8"], truncated)
    normalized = image_io.normalize(pixels / np.float32(255.0))
    direct = loaded.signatures["enhance_normalized"](image=tf.constant(normalized),
                                                     ratio=tf.constant(4.0))
    np.testing.assert_allclose(direct["enhanced"], expected, atol=1e-5)


def test_normalize_is_the_original_per_image(pixels):
    batch = np.concatenate([pixels, pixels // 3])
    normalized = export.normalize(tf.constant(batch)).numpy()
    for index in range(2):
        np.testing.assert_allclose(
            normalized[index], image_io.normalize(batch[index] / np.float32(255.0)), atol=1e-6
        )


def test_export_replaces_an_existing_model_atomically(saved_model, reference_nets):
    export.export(reference_nets, saved_model)
    assert sorted(os.listdir(saved_model)) == ["assets", "fingerprint.pb", "saved_model.pb",
                                               "variables"]
    assert not [name for name in os.listdir(os.path.dirname(saved_model)) if "tmp" in name]


def test_cli_refuses_a_file_as_out(tmp_path):
    (tmp_path / "model").write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "kind_tf.export", "--out", str(tmp_path / "model")],
        cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: --out '{tmp_path / 'model'}'")


def test_cli_writes_a_loadable_model(reference_ckpt_root, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kind_tf.export", "--ckpt", reference_ckpt_root, "--out",
         str(tmp_path / "kind")], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert set(tf.saved_model.load(str(tmp_path / "kind")).signatures) == {
        "serving_default", "enhance_normalized"}
