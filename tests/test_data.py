"""Image loading, pair listing, sample PNGs and the training patch pipeline."""

import os

import numpy as np
import pytest
from PIL import Image

from kind_tf import data
from kind_tf.errors import UserError


def original_data_augmentation(image, mode):
    """The original utils.data_augmentation, verbatim in behaviour."""
    if mode % 2 == 0:
        return np.rot90(image, k=mode // 2)
    return np.flipud(np.rot90(image, k=mode // 2))


def write_png(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def split(tmp_path, sizes, name="our485"):
    """A LOL split with pairs of the given (low size, high size) (W, H)."""
    rng = np.random.default_rng(0)
    for index, (low_size, high_size) in enumerate(sizes):
        for side, (width, height) in (("low", low_size), ("high", high_size)):
            write_png(str(tmp_path / name / side / f"{index}.png"),
                      rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return data.list_pairs(str(tmp_path / name))


def test_normalize_is_the_original_min_max():
    image = np.array([[[0.2, 0.4, 0.6]]], np.float32)
    np.testing.assert_allclose(data.normalize(image), [[[0, 0.5, 1]]], atol=1e-6)
    np.testing.assert_allclose(data.normalize(np.full((2, 2, 3), 0.5)), 0)  # flat: no division


def test_load_image_converts_grayscale_and_rgba(tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.array([[0, 255]], np.uint8)).save(gray)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.array([[[0, 0, 0, 9], [255, 255, 255, 9]]], np.uint8)).save(rgba)
    for path in (gray, rgba):
        np.testing.assert_allclose(data.load_image(str(path)), [[[0] * 3, [1] * 3]])


def test_load_image_is_normalize_of_uint8_over_255_bit_for_bit(tmp_path):
    # load_image normalizes through a table of the 256 levels: the same float32 values.
    rng = np.random.default_rng(1)
    pixels = rng.integers(20, 230, (37, 53, 3), dtype=np.uint8)
    pixels[0, 0] = [3, 200, 250]
    path = str(tmp_path / "photo.png")
    write_png(path, pixels)
    loaded = data.load_image(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, data.normalize(pixels / np.float32(255.0)))


def test_image_stack_pads_each_image_and_becomes_one_variable():
    images = [np.full((2, 3, 2), 1.0, np.float32), np.full((4, 1, 2), 2.0, np.float32)]
    stack = data.ImageStack.from_arrays(images)
    stack[1] = np.full((4, 1, 2), 5.0, np.float32)
    with pytest.raises(ValueError, match=r"image 0 has shape \(3, 2, 2\), expected \(2, 3, 2\)"):
        stack[0] = np.zeros((3, 2, 2), np.float32)
    assert len(stack) == 2
    np.testing.assert_array_equal(stack.sizes, [[2, 3], [4, 1]])
    padded = stack.variable.numpy()
    assert padded.shape == (2, 4, 3, 2) and stack.variable is stack.variable
    np.testing.assert_array_equal(padded[0, :2], 1.0)
    np.testing.assert_array_equal(padded[1, :, :1], 5.0)
    assert padded[0, 2:].sum() == 0 and padded[1, :, 1:].sum() == 0  # zero padding
    for read_back, image in zip(stack, [images[0], padded[1, :, :1]]):
        np.testing.assert_array_equal(read_back, image)
    with pytest.raises(ValueError, match="already a variable"):
        stack[0] = images[0]


def test_list_pairs_reports_unmatched_names(tmp_path):
    split(tmp_path, [((8, 8), (8, 8))])
    write_png(str(tmp_path / "our485" / "low" / "extra.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match="extra.png"):
        data.list_pairs(str(tmp_path / "our485"))


def test_pair_size_checks_sizes_from_the_headers(tmp_path):
    (pair,) = split(tmp_path, [((60, 50), (60, 50))])
    assert data.pair_size(*pair, patch_size=48) == (50, 60)
    with pytest.raises(UserError, match=r"0\.png' is 60x50, smaller than the 51x51"):
        data.pair_size(*pair, patch_size=51)
    (pair,) = split(tmp_path / "b", [((60, 50), (50, 60))])
    with pytest.raises(UserError, match="one size"):
        data.pair_size(*pair, patch_size=8)


def test_pair_size_reports_unreadable_image(tmp_path):
    (pair,) = split(tmp_path, [((8, 8), (8, 8))])
    with open(pair[1], "wb") as broken:
        broken.write(b"not a png")
    with pytest.raises(UserError, match="cannot read image"):
        data.pair_size(*pair, patch_size=8)
    # A truncated file passes the header check, then fails to decode, as clearly.
    (pair,) = split(tmp_path / "b", [((64, 64), (64, 64))])
    content = open(pair[0], "rb").read()
    with open(pair[0], "wb") as truncated:
        truncated.write(content[: len(content) // 2])
    assert data.pair_size(*pair, patch_size=8) == (64, 64)
    with pytest.raises(UserError, match="cannot read image .*0.png"):
        data.load_image(pair[0])


def test_save_images_is_the_original_save_images(tmp_path):
    path = str(tmp_path / "sample.png")
    left = np.full((1, 2, 3, 1), 0.5, np.float32)  # squeezed to (2, 3) like the original
    right = np.array([[-1.0, 0.999, 2.0]] * 2, np.float32)
    data.save_images(path, left, right)
    pixels = np.asarray(Image.open(path))
    # uint8(clip(x * 255)) truncates: 0.5 -> 127, 0.999 -> 254.
    np.testing.assert_array_equal(pixels, [[127, 127, 127, 0, 254, 255]] * 2)
    assert os.listdir(tmp_path) == ["sample.png"]


def test_augmented_pixels_are_the_original_data_augmentation():
    crop = np.arange(5 * 5 * 2, dtype=np.float32).reshape(5, 5, 2)
    rows, cols = data.augmented_pixels(np.arange(8), 5)
    for mode in range(8):
        np.testing.assert_array_equal(
            crop[rows[mode], cols[mode]], original_data_augmentation(crop, mode)
        )


def indexed_images(sizes):
    """Images whose channel 0 is the image index + 1 and channel 1 a unique pixel id."""
    images = []
    for index, (height, width) in enumerate(sizes):
        pixel_ids = np.arange(height * width, dtype=np.float32).reshape(height, width)
        images.append(np.stack([np.full((height, width), index + 1.0), pixel_ids], -1))
    return images


def patches(images, count, patch_size=4, batch_size=1, **kwargs):
    dataset = data.patch_dataset(images, patch_size, batch_size, seed=kwargs.pop("seed", 7),
                                 to_example=lambda patches, seed: {"patch": patches}, **kwargs)
    batches = [batch["patch"].numpy() for batch in dataset.take(count // batch_size)]
    return np.concatenate(batches)


def test_patches_are_augmented_crops_of_the_pass_order_images():
    sizes = [(6, 9), (8, 5), (7, 7)]  # different sizes: crops must stay inside each image
    images = indexed_images(sizes)
    stream = patches(images, 30, batch_size=3)
    assert stream.shape == (30, 4, 4, 2)
    image_ids = stream[:, 0, 0, 0].astype(int) - 1
    assert np.all(stream[..., 0] == stream[:, :1, :1, 0])  # one image per patch
    assert list(image_ids[:3]) == [0, 1, 2]  # first pass in order, as the original
    for start in range(0, 30, 3):  # every pass visits every image once
        assert sorted(image_ids[start:start + 3]) == [0, 1, 2]
    assert len({tuple(image_ids[s:s + 3]) for s in range(3, 30, 3)}) > 1  # reshuffled
    for patch, image_id in zip(stream, image_ids):
        height, width = sizes[image_id]
        pixel_ids = images[image_id][..., 1]
        assert any(
            np.array_equal(original_data_augmentation(pixel_ids[x:x + 4, y:y + 4], mode),
                           patch[..., 1])
            for mode in range(8) for x in range(height - 3) for y in range(width - 3)
        )


def test_both_images_of_a_pair_get_the_same_crop_and_mode():
    rng = np.random.default_rng(1)
    low = rng.random((20, 30, 3), dtype=np.float32)
    stacked = [np.concatenate([low, low + 1.0], -1)]
    stream = patches(stacked, 20, patch_size=8, batch_size=5)
    np.testing.assert_allclose(stream[..., 3:] - stream[..., :3], 1.0, atol=1e-6)


def test_modes_positions_and_order_options():
    images = indexed_images([(6, 6), (6, 6)])
    pixel_ids = images[0][..., 1]

    def modes_seen(stream):
        found = set()
        for patch in stream:
            for mode in range(8):
                for x in range(3):
                    for y in range(3):
                        if np.array_equal(original_data_augmentation(
                                pixel_ids[x:x + 4, y:y + 4], mode), patch[..., 1]):
                            found.add((mode, x, y))
        return found

    eight = modes_seen(patches(images, 400))
    assert {mode for mode, _, _ in eight} == set(range(8))
    assert {(x, y) for _, x, y in eight} == {(x, y) for x in range(3) for y in range(3)}
    # The adjustment script's quirk: modes 0-6 only, pairs never reshuffled.
    seven = patches(images, 400, modes=7, reshuffle=False)
    assert 7 not in {mode for mode, _, _ in modes_seen(seven)}
    np.testing.assert_array_equal(seven[:, 0, 0, 0], [1, 2] * 200)


def test_stream_is_seeded_and_resumable():
    images = indexed_images([(9, 9), (10, 8), (8, 11)])
    stream = patches(images, 24, batch_size=4)
    np.testing.assert_array_equal(stream, patches(images, 24, batch_size=4))
    assert not np.array_equal(stream, patches(images, 24, batch_size=4, seed=8))
    np.testing.assert_array_equal(stream[8:], patches(images, 16, batch_size=4, first_patch=8))
    with pytest.raises(ValueError, match="first_patch 6 is not a multiple of batch_size 4"):
        patches(images, 16, batch_size=4, first_patch=6)


def test_batches_span_passes_and_to_example_gets_a_seed_per_batch():
    images = indexed_images([(6, 6), (6, 7)])
    dataset = data.patch_dataset(  # 5 patches a batch from 2 images: 3 passes at once
        images, 4, 5, seed=0, to_example=lambda patches, seed: {"patch": patches, "seed": seed}
    )
    batches = list(dataset.take(4))
    image_ids = np.concatenate([batch["patch"][:, 0, 0, 0] for batch in batches]) - 1
    for start in range(0, 20, 2):  # every pass visits each image once
        assert sorted(image_ids[start:start + 2]) == [0, 1]
    assert len({tuple(batch["seed"].numpy()) for batch in batches}) == 4


def test_image_paths_file_folder_and_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    photo = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(photo)
    assert data.image_paths(str(photo)) == [str(photo)]
    assert data.image_paths(str(tmp_path)) == [str(photo)]
    with pytest.raises(UserError, match="--src folder .*empty' holds no images"):
        data.image_paths(str(tmp_path / "empty"), flag="--src")
    with pytest.raises(UserError, match="--input '.*missing' is neither a photo nor a folder"):
        data.image_paths(str(tmp_path / "missing"))
