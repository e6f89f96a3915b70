"""Image files: reading, the original's normalization, listing."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kind_tf import image_io
from kind_tf.errors import UserError


def write_png(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def original_normalization(image):
    """The original `load_images`: `(x - min) / max(max - min, 0.001)` over the image."""
    return (image - image.min()) / np.maximum(image.max() - image.min(), np.float32(0.001))


def test_min_max_scaled_is_the_original_in_numpy_and_tf():
    image = np.array([[[0.2, 0.4, 0.6]]], np.float32)
    scaled = image_io.min_max_scaled(image, image.min(), image.max())
    np.testing.assert_allclose(scaled, [[[0, 0.5, 1]]], atol=1e-6)
    assert isinstance(scaled, np.ndarray) and scaled.dtype == np.float32
    flat = np.full((2, 2, 3), 0.5, np.float32)
    np.testing.assert_array_equal(image_io.min_max_scaled(flat, 0.5, 0.5), 0)  # no division
    tensor = tf.constant(image)
    scaled_tf = image_io.min_max_scaled(tensor, tf.reduce_min(tensor), tf.reduce_max(tensor))
    assert tf.is_tensor(scaled_tf)
    np.testing.assert_array_equal(scaled_tf, scaled)


def test_load_image_converts_grayscale_and_rgba(tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.array([[0, 255]], np.uint8)).save(gray)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.array([[[0, 0, 0, 9], [255, 255, 255, 9]]], np.uint8)).save(rgba)
    for path in (gray, rgba):
        np.testing.assert_allclose(image_io.load_image(str(path)), [[[0] * 3, [1] * 3]])


def test_load_image_is_normalize_of_uint8_over_255_bit_for_bit(tmp_path):
    # load_image normalizes through a table of the 256 levels: the same float32 values.
    rng = np.random.default_rng(1)
    pixels = rng.integers(20, 230, (37, 53, 3), dtype=np.uint8)
    pixels[0, 0] = [3, 200, 250]
    path = str(tmp_path / "photo.png")
    write_png(path, pixels)
    loaded = image_io.load_image(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, original_normalization(pixels / np.float32(255.0)))


def test_image_paths_file_folder_and_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    photo = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(photo)
    assert image_io.image_paths(str(photo)) == [str(photo)]
    assert image_io.image_paths(str(tmp_path)) == [str(photo)]
    with pytest.raises(UserError, match="--src folder .*empty' holds no images"):
        image_io.image_paths(str(tmp_path / "empty"), flag="--src")
    with pytest.raises(UserError, match="--input '.*missing' is neither a photo nor a folder"):
        image_io.image_paths(str(tmp_path / "missing"))


def test_sixteen_bit_grayscale_keeps_its_levels(tmp_path):
    path = str(tmp_path / "gray16.png")
    Image.fromarray(np.array([[0, 256 * 100 + 17, 65535]], np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I;16")
    np.testing.assert_array_equal(image_io.read_rgb(path), [[[0] * 3, [100] * 3, [255] * 3]])


def test_level_range_is_what_load_image_normalizes_by(tmp_path):
    pixels = np.array([[[3, 40, 200]]], np.uint8)
    low, high = image_io.level_range(pixels)
    assert (low, high) == (np.float32(3) / np.float32(255), np.float32(200) / np.float32(255))


def test_decompression_bombs_are_user_errors(tmp_path, monkeypatch):
    path = str(tmp_path / "big.png")
    write_png(path, np.zeros((5, 5, 3), np.uint8))
    # Pillow refuses images of over twice MAX_IMAGE_PIXELS; 25 px stand in for 179 MP.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(UserError, match="cannot read image '.*big.png': Image size .* exceeds"):
        image_io.image_header(path)
