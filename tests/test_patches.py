"""The training patch pipeline: the original's random crops, flips and rotations."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import stored_images
from kind_tf import image_io, image_store, patches


def original_data_augmentation(image, mode):
    """The original utils.data_augmentation, verbatim in behaviour."""
    if mode % 2 == 0:
        return np.rot90(image, k=mode // 2)
    return np.flipud(np.rot90(image, k=mode // 2))


def test_augmented_pixels_are_the_original_data_augmentation():
    crop = np.arange(5 * 5 * 2, dtype=np.float32).reshape(5, 5, 2)
    rows, cols = patches.augmented_pixels(np.arange(8), 5)
    for mode in range(8):
        np.testing.assert_array_equal(
            crop[rows[mode], cols[mode]], original_data_augmentation(crop, mode)
        )


def indexed_images(sizes):
    """Images whose channel 0 is the image index + 1 and channel 1 a unique pixel id."""
    images = []
    for index, (height, width) in enumerate(sizes):
        pixel_ids = np.arange(height * width, dtype=np.float32).reshape(height, width)
        images.append(np.stack([np.full((height, width), index + 1.0, np.float32), pixel_ids], -1))
    return images


def store_from(images, folder=None):
    """An `ImageStore` of float32 (H, W, C) arrays: in memory, or streamed from `folder`."""
    store = image_store.ImageStore.create([image.shape[:2] for image in images],
                                          images[0].shape[2], images[0].dtype, folder)
    for index, image in enumerate(images):
        store.put(index, image)
    return store.finish()


@pytest.fixture(params=["memory", "stream"])
def store_of(request, tmp_path):
    """Makes stores of arrays, in memory and streamed: every patch test runs on both, so the
    two give the same patches."""
    folders = iter(tmp_path / f"store{index}" for index in range(100))
    return lambda images: store_from(images, next(folders) if request.param == "stream" else None)


def cut(store, count, patch_size=4, batch_size=1, **kwargs):
    """The first `count` patches of `store`'s stream."""
    dataset = patches.patch_dataset(store, patch_size, batch_size, seed=kwargs.pop("seed", 7),
                                    to_example=lambda batch, seed: {"patch": batch}, **kwargs)
    batches = [batch["patch"].numpy() for batch in dataset.take(count // batch_size)]
    return np.concatenate(batches)


def test_patches_are_augmented_crops_of_the_pass_order_images(store_of):
    sizes = [(6, 9), (8, 5), (7, 7)]  # different sizes: crops must stay inside each image
    images = indexed_images(sizes)
    stream = cut(store_of(images), 30, batch_size=3)
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


def test_both_images_of_a_pair_get_the_same_crop_and_mode(store_of):
    rng = np.random.default_rng(1)
    low = rng.random((20, 30, 3), dtype=np.float32)
    stacked = [np.concatenate([low, low + 1.0], -1)]
    stream = cut(store_of(stacked), 20, patch_size=8, batch_size=5)
    np.testing.assert_allclose(stream[..., 3:] - stream[..., :3], 1.0, atol=1e-6)


def test_modes_positions_and_order_options(store_of):
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

    eight = modes_seen(cut(store_of(images), 400))
    assert {mode for mode, _, _ in eight} == set(range(8))
    assert {(x, y) for _, x, y in eight} == {(x, y) for x in range(3) for y in range(3)}
    # The adjustment script's quirk: modes 0-6 only, pairs never reshuffled.
    seven = cut(store_of(images), 400, modes=7, reshuffle=False)
    assert 7 not in {mode for mode, _, _ in modes_seen(seven)}
    np.testing.assert_array_equal(seven[:, 0, 0, 0], [1, 2] * 200)


def test_stream_is_seeded_and_resumable(store_of):
    images = indexed_images([(9, 9), (10, 8), (8, 11)])
    stream = cut(store_of(images), 24, batch_size=4)
    np.testing.assert_array_equal(stream, cut(store_of(images), 24, batch_size=4))
    assert not np.array_equal(stream, cut(store_of(images), 24, batch_size=4, seed=8))
    np.testing.assert_array_equal(stream[8:], cut(store_of(images), 16, batch_size=4, first_patch=8))
    with pytest.raises(ValueError, match="first_patch 6 is not a multiple of batch_size 4"):
        cut(store_of(images), 16, batch_size=4, first_patch=6)


def test_batches_span_passes_and_to_example_gets_a_seed_per_batch(store_of):
    images = indexed_images([(6, 6), (6, 7)])
    dataset = patches.patch_dataset(  # 5 patches a batch from 2 images: 3 passes at once
        store_of(images), 4, 5, seed=0, to_example=lambda patches, seed: {"patch": patches, "seed": seed}
    )
    batches = list(dataset.take(4))
    image_ids = np.concatenate([batch["patch"][:, 0, 0, 0] for batch in batches]) - 1
    for start in range(0, 20, 2):  # every pass visits each image once
        assert sorted(image_ids[start:start + 2]) == [0, 1]
    assert len({tuple(batch["seed"].numpy()) for batch in batches}) == 4


def test_pixel_rows_are_int64_beyond_two_to_the_31():
    # A set of 10,000 12 MP pairs: image 1 starts past 2**33 rows; no such set is allocated.
    offsets = tf.constant([0, 2**33 + 5], tf.int64)
    widths = tf.constant([600, 4000], tf.int64)
    rows = tf.constant([[[0, 3]]], tf.int64)
    cols = tf.constant([[[7, 9]]], tf.int64)
    found = patches.pixel_rows(offsets, widths, tf.constant([1]), rows, cols)
    assert found.dtype == tf.int64
    np.testing.assert_array_equal(found, [[[2**33 + 5 + 7, 2**33 + 5 + 3 * 4000 + 9]]])


def test_uint8_patches_are_crops_of_the_normalized_photos_in_both_modes(tmp_path):
    rng = np.random.default_rng(3)
    photos = [rng.integers(10, 240, (21, 26, 3), dtype=np.uint8) for _ in range(4)]
    photos[1][0, 0] = [0, 255, 3]  # full range in one photo, narrow in the others
    photos[2] = np.full((21, 26, 3), 77, np.uint8)  # flat: the original's max(.., 0.001)
    pairs = [np.concatenate([photos[0], photos[1]], -1), np.concatenate([photos[2], photos[3]], -1)]
    streams = []
    for folder in (None, str(tmp_path / "store")):
        store = image_store.ImageStore.create([(21, 26)] * 2, 6, np.uint8, folder)
        for index, pair in enumerate(pairs):
            ranges = [image_io.level_range(pair[..., s:s + 3]) for s in (0, 3) for _ in range(3)]
            store.put(index, pair, np.array(ranges, np.float32))
        store = store.finish()
        assert store.in_memory == (folder is None)
        streams.append(cut(store, 40, patch_size=8, batch_size=4))
    assert streams[0].dtype == np.float32
    np.testing.assert_array_equal(streams[0], streams[1])
    values = stored_images(image_store.ImageStore.open(str(tmp_path / "store"), in_memory=True))
    for index, pair in enumerate(pairs):  # the values patches see: load_image's, exactly
        for side in (0, 3):
            path = str(tmp_path / f"{index}_{side}.png")
            Image.fromarray(pair[..., side:side + 3]).save(path)
            np.testing.assert_array_equal(values[index][..., side:side + 3],
                                          image_io.load_image(path))
    for patch in streams[0][:8]:  # each patch is an augmented crop of one normalized pair
        assert any(
            np.array_equal(original_data_augmentation(image[x:x + 8, y:y + 8], mode), patch)
            for image in values for mode in range(8) for x in range(14) for y in range(19)
        )
