"""Tests for kind_tf.outputs: atomic writes and the original's result names."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kind_tf import image_io, outputs
from kind_tf.errors import UserError


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "metrics.json"
    outputs.write_json(path, {"psnr": 1.0})
    with pytest.raises(RuntimeError):
        with outputs.atomic_write(path) as file:
            file.write('{"psnr": ')
            raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"psnr": 1.0}
    assert os.listdir(tmp_path) == ["metrics.json"]


@pytest.mark.parametrize("compress_level", [outputs.PNG_COMPRESS_LEVEL,
                                            outputs.PNG_FAST_COMPRESS_LEVEL])
def test_png_round_trip(tmp_path, compress_level):
    pixels = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    outputs.write_png(tmp_path / "a.png", pixels, compress_level=compress_level)
    np.testing.assert_array_equal(image_io.read_rgb(tmp_path / "a.png"), pixels)


def test_png_compress_level_trades_size_only(tmp_path):
    smooth = np.tile(np.arange(256, dtype=np.uint8), (64, 1))[..., None].repeat(3, axis=-1)
    for level in (1, 9):
        outputs.write_png(tmp_path / f"{level}.png", smooth, compress_level=level)
        np.testing.assert_array_equal(image_io.read_rgb(tmp_path / f"{level}.png"), smooth)
    assert os.path.getsize(tmp_path / "1.png") > os.path.getsize(tmp_path / "9.png")


def test_csv_has_the_columns_in_order(tmp_path):
    rows = [{"ratio": 2, "name": "1", "extra": 0}]
    outputs.write_csv(tmp_path / "m.csv", rows, ("name", "ratio"))
    assert (tmp_path / "m.csv").read_text().splitlines() == ["name,ratio", "1,2"]


def test_result_names_follow_the_original():
    assert outputs.result_name("photos/IMG_1.v2.JPG") == "IMG_1"
    assert outputs.kindle_path("low/22.png", "out") == os.path.join("out", "22_kindle.png")


def test_output_dir_that_cannot_be_made_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("")
    outputs.make_output_dir(str(tmp_path / "a" / "b"))
    assert (tmp_path / "a" / "b").is_dir()
    with pytest.raises(UserError, match="--output_dir '.*file/sub': cannot create the folder"):
        outputs.make_output_dir(str(tmp_path / "file" / "sub"))


def test_save_images_is_the_original_save_images(tmp_path):
    path = str(tmp_path / "sample.png")
    left = np.full((1, 2, 3, 1), 0.5, np.float32)  # squeezed to (2, 3) like the original
    right = np.array([[-1.0, 0.999, 2.0]] * 2, np.float32)
    outputs.save_images(path, left, right)
    pixels = np.asarray(Image.open(path))
    # uint8(clip(x * 255)) truncates: 0.5 -> 127, 0.999 -> 254.
    np.testing.assert_array_equal(pixels, [[127, 127, 127, 0, 254, 255]] * 2)
    assert os.listdir(tmp_path) == ["sample.png"]


@pytest.mark.parametrize("shape", [(1, 1, 1, 3), (1, 1, 5, 3), (1, 4, 1, 3), (1, 1, 1, 1)])
def test_side_by_side_keeps_one_pixel_axes(shape):
    # np.squeeze, the original's, would drop them: a 1x1 photo could not be written.
    image = np.zeros(shape, np.float32)
    joined = outputs.side_by_side(image, image)
    expected = (shape[1], 2 * shape[2]) + ((3,) if shape[3] == 3 else ())
    assert joined.shape == expected


def test_to_uint8_truncates_alike_for_arrays_and_tensors():
    values = np.array([[-0.5, 0.0, 0.2, 0.99999, 1.0, 7.0]], np.float32)
    expected = np.array([[0, 0, 51, 254, 255, 255]], np.uint8)  # truncated, not rounded
    array = outputs.to_uint8(values)
    assert isinstance(array, np.ndarray)
    np.testing.assert_array_equal(array, expected)
    tensor = tf.function(outputs.to_uint8)(tf.constant(values))  # in a graph too
    assert tensor.dtype == tf.uint8
    np.testing.assert_array_equal(tensor, expected)
