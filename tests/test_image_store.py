"""Training images held as uint8 or float32, in memory or streamed from a store folder."""

import os

import numpy as np
import pytest

from conftest import stored_images
from kind_tf import image_store
from kind_tf.errors import UserError


def filled(images, dtype, folder=None, ranges=None):
    store = image_store.ImageStore.create([image.shape[:2] for image in images],
                                          images[0].shape[2], dtype, folder)
    for index, image in enumerate(images):
        store.put(index, image, None if ranges is None else ranges[index])
    return store


def test_images_of_any_size_are_stored_unpadded_and_read_back():
    images = [np.full((2, 3, 2), 1.0, np.float32), np.full((4, 1, 2), 2.0, np.float32)]
    store = filled(images, np.float32).finish()
    assert len(store) == 2 and store.total_rows == 10 and store.nbytes == 80
    np.testing.assert_array_equal(store.offsets, [0, 6])
    with pytest.raises(ValueError, match=r"image 0 has shape \(3, 2, 2\), expected \(2, 3, 2\)"):
        store.put(0, np.zeros((3, 2, 2), np.float32))
    with pytest.raises(ValueError, match="image 0 is float64, the store holds float32"):
        store.put(0, np.zeros((2, 3, 2)))
    rows = store.variable.numpy()
    assert rows.shape == (10, 2) and store.variable is store.variable
    for stored, image in zip(stored_images(store), images):
        np.testing.assert_array_equal(stored, image)


def test_a_streamed_store_is_written_whole_and_reads_only_crops(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (9, 13, 6), dtype=np.uint8),
              rng.integers(0, 256, (11, 7, 6), dtype=np.uint8)]
    ranges = np.tile(np.array([0.1, 0.9], np.float32), (2, 6, 1))
    folder = str(tmp_path / "store")
    store = filled(images, np.uint8, folder, ranges)
    assert not image_store.ImageStore.exists(folder)  # not until it is finished
    store = store.finish()
    assert image_store.ImageStore.exists(folder) and os.listdir(tmp_path) == ["store"]
    assert not store.in_memory
    with pytest.raises(ValueError, match="streamed ImageStore has no variable"):
        store.variable
    crops = store.read_crops(np.array([1, 0]), np.array([2, 5]), np.array([3, 9]), size=4)
    np.testing.assert_array_equal(crops[0], images[1][2:6, 3:7])
    np.testing.assert_array_equal(crops[1], images[0][5:9, 9:13])
    loaded = image_store.ImageStore.open(folder, in_memory=True)
    assert loaded.in_memory
    np.testing.assert_array_equal(loaded.ranges, ranges)
    for stored, image in zip(stored_images(loaded, normalize=False), images):
        np.testing.assert_array_equal(stored, image)


def _resident_bytes():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_writing_a_streamed_store_does_not_keep_its_pixels_resident(tmp_path):
    # 64 images of 1 MiB (one source array): the store's 64 MiB must go to the file, not
    # stay in this process's memory (a memmap's written pages do, until written back).
    image = np.ones((512, 512, 1), np.float32)
    store = image_store.ImageStore.create([(512, 512)] * 64, 1, np.float32,
                                          str(tmp_path / "store"))
    before = _resident_bytes()
    for index in range(64):
        store.put(index, image)
    grown = _resident_bytes() - before
    store = store.finish()
    assert grown < 16 * 2**20, f"resident memory grew by {grown / 2**20:.0f} MiB"
    np.testing.assert_array_equal(store.read_crops(np.array([63]), np.array([0]), np.array([0]),
                                                   size=512)[0], image)


def test_a_truncated_store_says_to_rebuild_it(tmp_path):
    folder = str(tmp_path / "store")
    filled([np.zeros((4, 4, 2), np.float32)], np.float32, folder).finish()
    with open(os.path.join(folder, "pixels.bin"), "r+b") as file:
        file.truncate(10)
    with pytest.raises(UserError, match="store .* is truncated: delete the folder"):
        image_store.ImageStore.open(folder, in_memory=False)


def test_plan_streams_what_exceeds_the_budget():
    assert image_store.plan(10, "auto", budget=10) and not image_store.plan(11, "auto", 10)
    assert image_store.plan(11, "memory", 10) and not image_store.plan(1, "stream", 10)
    assert 0 < image_store.default_memory_budget() < 2**50
    with pytest.raises(ValueError, match="mode must be one of"):
        image_store.plan(1, "disk", 10)
