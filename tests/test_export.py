"""Tests for kind_tf.export: the SavedModel of the whole enhancer, reloaded and compared."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from kind_tf import KinD, export, image_io, metrics, outputs


@pytest.fixture(scope="module")
def saved_model(reference_model, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("export") / "kind")
    export.export(reference_model, directory)
    return directory


@pytest.fixture(scope="module")
def pixels(reference_dir):
    return image_io.read_rgb(f"{reference_dir}/test_images/4.bmp")[None, 100:160, 50:131]


@pytest.fixture(scope="module")
def shipped_model():
    """The model of pretrained/, which the export CLI uses without --ckpt."""
    return KinD.from_checkpoint()


def enhance(pixels, model, ratio=5.0):
    """`KinD.enhance` of a uint8 batch of one, normalized as `image_io.load_image`."""
    return model.enhance(image_io.normalize_pixels(pixels[0])[None], ratio).numpy()


def enhanced_uint8(pixels, model):
    return outputs.to_uint8(enhance(pixels, model))


def test_round_trip_equals_kind_enhance(saved_model, reference_model, pixels):
    loaded = tf.saved_model.load(saved_model)
    result = loaded.signatures["serving_default"](image=tf.constant(pixels), ratio=tf.constant(4.0))
    expected = enhance(pixels, reference_model, 4.0)
    np.testing.assert_allclose(result["enhanced"], expected, atol=1e-5)
    truncated = np.clip(result["enhanced"].numpy() * 255.0, 0, 255.0).astype("uint8")
    np.testing.assert_array_equal(result["enhanced_uint8"], truncated)
    normalized = image_io.normalize_pixels(pixels[0])[None]
    direct = loaded.signatures["enhance_normalized"](image=tf.constant(normalized),
                                                     ratio=tf.constant(4.0))
    np.testing.assert_allclose(direct["enhanced"], expected, atol=1e-5)


def test_normalize_is_the_original_per_image(pixels):
    batch = np.concatenate([pixels, pixels // 3])
    normalized = export.normalize(tf.constant(batch)).numpy()
    for index in range(2):
        np.testing.assert_allclose(
            normalized[index], image_io.normalize_pixels(batch[index]), atol=1e-6
        )


def test_export_replaces_an_existing_model_atomically(saved_model, reference_model):
    export.export(reference_model, saved_model)
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


def test_cli_writes_the_enhancer_of_its_ckpt(reference_ckpt_root, reference_model,
                                             shipped_model, pixels, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kind_tf.export", "--ckpt", reference_ckpt_root, "--out",
         str(tmp_path / "kind")], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = tf.saved_model.load(str(tmp_path / "kind"))
    assert set(loaded.signatures) == {"serving_default", "enhance_normalized"}
    output = loaded.signatures["serving_default"](image=tf.constant(pixels),
                                                  ratio=tf.constant(5.0))
    expected = enhance(pixels, reference_model)
    np.testing.assert_allclose(output["enhanced"], expected, rtol=0, atol=1e-5)
    # The --ckpt weights, not the default pretrained/ ones, whose image is another (measured
    # 20.8 dB from it).
    assert metrics.psnr(output["enhanced_uint8"].numpy()[0],
                        enhanced_uint8(pixels, shipped_model)[0]) < 30


# --format tflite: the LiteRT model, run by the LiteRT interpreter (ai-edge-litert).

# Two eval15 crops of different sizes: the model takes any size, resized per call.
EVAL15_CROPS = {"1.png": (slice(96, 256), slice(200, 440)),
                "111.png": (slice(40, 168), slice(300, 476))}


@pytest.fixture(scope="module")
def tflite_files(reference_model, tmp_path_factory):
    """{"float32": path, "float16": path}: the enhancer of the reference weights as TFLite."""
    folder = tmp_path_factory.mktemp("tflite")
    return {weights: export.export_tflite(reference_model, str(folder / f"kind_{weights}.tflite"),
                                          weights)
            for weights in export.TFLITE_WEIGHTS}


@pytest.fixture(scope="module")
def eval15_crops(lol_dir):
    return [image_io.read_rgb(f"{lol_dir}/eval15/low/{name}")[None][(slice(None), *crop)]
            for name, crop in EVAL15_CROPS.items()]


def test_tflite_float32_equals_kind_enhance(tflite_files, reference_model, eval15_crops):
    runner = export.load_tflite(tflite_files["float32"])
    for pixels in eval15_crops:
        result = runner(image=pixels, ratio=np.float32(5.0))
        expected = enhance(pixels, reference_model)
        np.testing.assert_allclose(result["enhanced"], expected, rtol=0, atol=1e-4)
        levels = result["enhanced_uint8"].astype(int) - outputs.to_uint8(expected)
        assert np.abs(levels).max() <= 1
        # Its 8-bit output is the original's truncation of its own float output.
        np.testing.assert_array_equal(result["enhanced_uint8"],
                                      outputs.to_uint8(result["enhanced"]))


def test_tflite_float16_is_half_the_size_and_close(tflite_files, eval15_crops):
    sizes = {weights: os.path.getsize(path) for weights, path in tflite_files.items()}
    assert 0.45 < sizes["float16"] / sizes["float32"] < 0.55
    runners = {weights: export.load_tflite(path) for weights, path in tflite_files.items()}
    for pixels in eval15_crops:
        results = {weights: runner(image=pixels, ratio=np.float32(5.0))["enhanced_uint8"][0]
                   for weights, runner in runners.items()}
        # Measured 62.9 and 66.6 dB on the two crops.
        assert metrics.psnr(results["float16"], results["float32"]) > 60


def test_tflite_signature_takes_any_size(tflite_files):
    runner = export.load_tflite(tflite_files["float32"])
    image = runner.get_input_details()["image"]
    assert image["dtype"] == np.uint8 and list(image["shape_signature"]) == [-1, -1, -1, 3]
    assert set(runner.get_output_details()) == {"enhanced", "enhanced_uint8"}


def test_export_tflite_replaces_a_file_atomically(tmp_path, monkeypatch):
    path = tmp_path / "kind.tflite"
    path.write_bytes(b"old model")
    monkeypatch.setattr(export, "tflite_model", lambda model, weights: b"new model")
    export.export_tflite(None, str(path))
    assert path.read_bytes() == b"new model" and os.listdir(tmp_path) == ["kind.tflite"]

    def failing_conversion(model, weights):
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(export, "tflite_model", failing_conversion)
    with pytest.raises(RuntimeError):
        export.export_tflite(None, str(path))
    assert path.read_bytes() == b"new model" and os.listdir(tmp_path) == ["kind.tflite"]


@pytest.mark.parametrize("arguments, message", [
    (["--format", "tflite", "--out", "{folder}"], "error: --out '{folder}' is a folder"),
    (["--tflite_weights", "float16", "--out", "{folder}/kind"],
     "error: --tflite_weights is for --format tflite"),
])
def test_cli_refuses_bad_tflite_flags(tmp_path, arguments, message):
    arguments = [argument.format(folder=tmp_path) for argument in arguments]
    result = subprocess.run([sys.executable, "-m", "kind_tf.export", *arguments],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(message.format(folder=tmp_path))
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_cli_writes_a_tflite_model(reference_ckpt_root, reference_model, shipped_model,
                                   eval15_crops, tmp_path):
    path = tmp_path / "models" / "kind.tflite"  # The folder is created.
    result = subprocess.run(
        [sys.executable, "-m", "kind_tf.export", "--format", "tflite", "--tflite_weights",
         "float16", "--ckpt", reference_ckpt_root, "--out", str(path)],
        cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "float16 weights" in result.stdout
    runner = export.load_tflite(str(path))
    for pixels in eval15_crops:
        output = runner(image=pixels, ratio=np.float32(5.0))["enhanced_uint8"]
        # The enhancer of the --ckpt weights (measured 62.9 and 66.6 dB, float16 weights), not
        # of the default pretrained/ ones (16.4 and 16.9 dB).
        assert metrics.psnr(output[0], enhanced_uint8(pixels, reference_model)[0]) > 60
        assert metrics.psnr(output[0], enhanced_uint8(pixels, shipped_model)[0]) < 25
