"""Training images held compactly, in memory or on disk, for the patch pipeline (`patches.py`).

An `ImageStore` holds N images of any sizes (H_i, W_i) with C channels, unpadded, one after
another as the rows of one (pixels, C) array: image i is rows `offsets[i]` to `offsets[i] +
H_i * W_i`. Two kinds of values:
- uint8: photos as their 8-bit levels, with `ranges[i, c]` the float32 (min, max) of
  `level / 255` over the photo that channel c of image i comes from. `normalized` turns
  levels into the original's per-photo min-max values when a patch is cut: the same float32
  values as `image_io.load_image`, at a quarter of the memory (LOL stage 1: 0.65 GiB, not 2.6).
- float32: values kept as they are (the decompositions of stages 2 and 3, see `decom_cache`).

The rows live in memory (`in_memory`: handed to TensorFlow as one variable, without a copy)
or in a file `pixels.bin` of a store folder, from which `read_crops` reads only the rows of
each patch (the set never has to fit in memory). `plan` picks one from the set's size.
"""

import os
import shutil

import numpy as np
import tensorflow as tf

from kind_tf.errors import UserError

_INDEX = "index.npz"
_PIXELS = "pixels.bin"
# Memory alignment of the in-memory rows: TensorFlow's tensor alignment, so that a tensor can
# share the memory.
_ALIGNMENT = 64
DATA_MODES = ("auto", "memory", "stream")


def default_memory_budget():
    """Bytes of training images `plan` keeps in memory: a quarter of the machine's RAM."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def plan(nbytes, mode, budget):
    """True to hold a set of `nbytes` in memory, False to stream it: `mode` auto picks memory
    when the set fits in `budget` bytes."""
    if mode not in DATA_MODES:
        raise ValueError(f"mode must be one of {DATA_MODES}, got {mode!r}")
    return mode == "memory" or (mode == "auto" and nbytes <= budget)


def _aligned_empty(rows, channels, dtype):
    """An uninitialized (rows, channels) array starting on an `_ALIGNMENT`-byte boundary."""
    size = rows * channels * np.dtype(dtype).itemsize
    buffer = np.empty(size + _ALIGNMENT, np.uint8)
    offset = -buffer.ctypes.data % _ALIGNMENT
    return buffer[offset : offset + size].view(dtype).reshape(rows, channels)


def normalized(levels, ranges):
    """The original normalization of uint8 `levels` (..., C) with `ranges` (..., C, 2).

    `(level / 255 - min) / max(max - min, 0.001)` in float32, op for op as `load_images`.
    """
    values = tf.cast(levels, tf.float32) / 255.0
    low, high = ranges[..., 0], ranges[..., 1]
    return (values - low) / tf.maximum(high - low, 0.001)


class ImageStore:
    """N images of sizes `sizes` (N, 2) with `channels` channels of `dtype` (uint8/float32).

    Make one with `create` (in memory, or in a store folder when `folder` is given), fill it
    with `put`, then `finish`; or `open` a finished store folder. Patches are read through
    `variable` (in memory) or `read_crops` (streamed).
    """

    def __init__(self, sizes, channels, dtype, rows=None, path=None, ranges=None):
        self.sizes = np.asarray(sizes, np.int64).reshape(-1, 2)
        self.channels, self.dtype = channels, np.dtype(dtype)
        if self.dtype not in (np.uint8, np.float32):
            raise ValueError(f"an ImageStore holds uint8 or float32, not {self.dtype}")
        pixels = self.sizes[:, 0] * self.sizes[:, 1]
        self.offsets = np.concatenate([[0], np.cumsum(pixels)[:-1]]).astype(np.int64)
        self.total_rows = int(pixels.sum())
        if ranges is None and self.dtype == np.uint8:
            ranges = np.zeros((len(self.sizes), channels, 2), np.float32)
        self.ranges = ranges
        self._rows, self._path = rows, path
        self._variable = None
        self._file = None
        self._writer = None

    @classmethod
    def create(cls, sizes, channels, dtype, folder=None):
        """An empty store to `put` images in: in memory, or written to store folder `folder`
        (made whole by `finish`: a store folder that exists is complete)."""
        store = cls(sizes, channels, dtype)
        if folder is None:
            store._rows = _aligned_empty(store.total_rows, channels, store.dtype)
        else:
            store._folder = folder
            store._partial = f"{folder}.{os.getpid()}.partial"
            shutil.rmtree(store._partial, ignore_errors=True)
            os.makedirs(store._partial)
            store._path = os.path.join(store._partial, _PIXELS)
            # Written with pwrite, not through a memmap: a memmap's written pages count in the
            # process's resident memory until written back, so a store larger than memory
            # could not be written (tests/test_image_store.py checks it stays out).
            store._writer = os.open(store._path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
            os.ftruncate(store._writer, store.nbytes)
        return store

    @property
    def nbytes(self):
        return self.total_rows * self.channels * self.dtype.itemsize

    @property
    def in_memory(self):
        return self._path is None

    def __len__(self):
        return len(self.sizes)

    def put(self, index, image, ranges=None):
        """Stores image `index` ((H_i, W_i, C) of the store's dtype; `ranges` (C, 2) for uint8)."""
        expected = (*self.sizes[index].tolist(), self.channels)
        if image.shape != expected:
            raise ValueError(f"image {index} has shape {image.shape}, expected {expected}")
        if image.dtype != self.dtype:
            raise ValueError(f"image {index} is {image.dtype}, the store holds {self.dtype}")
        start = self.offsets[index]
        if self._writer is None:
            self._rows[start : start + expected[0] * expected[1]] = image.reshape(
                -1, self.channels)
        else:
            data = memoryview(np.ascontiguousarray(image)).cast("B")
            offset = int(start) * self.channels * self.dtype.itemsize
            while data:  # pwrite may write less than asked (at most 2 GiB a call on Linux)
                written = os.pwrite(self._writer, data, offset)
                data, offset = data[written:], offset + written
        if self.ranges is not None:
            self.ranges[index] = ranges

    def finish(self):
        """Completes a store being written to its folder; returns the store, open for reading
        (streamed). A store in memory is returned as it is."""
        if self.in_memory:
            return self
        os.close(self._writer)
        self._writer = None
        np.savez(os.path.join(self._partial, _INDEX), sizes=self.sizes, channels=self.channels,
                 dtype=self.dtype.str, ranges=np.zeros(0) if self.ranges is None else self.ranges)
        shutil.rmtree(self._folder, ignore_errors=True)
        os.replace(self._partial, self._folder)
        return ImageStore.open(self._folder, in_memory=False)

    @classmethod
    def open(cls, folder, in_memory):
        """The finished store of `folder`, loaded into memory or streamed from the file."""
        with np.load(os.path.join(folder, _INDEX)) as index:
            dtype = np.dtype(str(index["dtype"]))
            ranges = index["ranges"] if dtype == np.uint8 else None
            store = cls(index["sizes"], int(index["channels"]), dtype, ranges=ranges,
                        path=os.path.join(folder, _PIXELS))
        if os.path.getsize(store._path) < store.nbytes:
            raise UserError(f"the image store '{folder}' is truncated: delete the folder to "
                            "have it rebuilt")
        if in_memory:
            rows = _aligned_empty(store.total_rows, store.channels, dtype)
            with open(store._path, "rb") as file:
                file.readinto(memoryview(rows.reshape(-1).view(np.uint8)))
            store._rows, store._path = rows, None
        return store

    @staticmethod
    def exists(folder):
        return os.path.isfile(os.path.join(folder, _INDEX))

    @property
    def variable(self):
        """The in-memory rows as a CPU `tf.Variable` sharing their memory (made once).

        `tf.Variable(array)` would copy the set through two transient copies, and slot-wise
        writes into a variable switch it to copy-on-read, which makes every patch read copy
        the set. DLPack hands the aligned array over as it is; the store is read-only then.
        """
        if not self.in_memory:
            raise ValueError("a streamed ImageStore has no variable: use read_crops")
        if self._variable is None:
            with tf.device("/CPU:0"):
                shared = tf.experimental.dlpack.from_dlpack(self._rows.__dlpack__())
                self._variable = tf.Variable(shared, trainable=False, name="training_images")
            self._rows = None
        return self._variable

    def read_crops(self, ids, tops, lefts, size):
        """(B, size, size, C) crops of a streamed store: crop b is image ids[b] from row
        tops[b], column lefts[b]. Reads only the crops' pixels from the file (a row segment
        at a time), so memory does not grow with the set."""
        if self._file is None:
            self._file = os.open(self._path, os.O_RDONLY)
        itemsize = self.dtype.itemsize * self.channels
        crops = np.empty((len(ids), size, size, self.channels), self.dtype)
        for crop, image, top, left in zip(crops, ids, tops, lefts):
            width = self.sizes[image, 1]
            first = (self.offsets[image] + top * width + left) * itemsize
            for row in range(size):
                segment = os.pread(self._file, size * itemsize, int(first + row * width * itemsize))
                crop[row] = np.frombuffer(segment, self.dtype).reshape(size, self.channels)
        return crops
