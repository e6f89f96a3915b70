"""Image loading, LOL-style pair discovery and the training patch pipeline, as the original."""

import contextlib
import os

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from kind_tf import outputs
from kind_tf.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _min_max_scaled(values, low, high):
    """`(x - min) / max(max - min, 0.001)` in float32, the original's normalization."""
    return (values - low) / np.maximum(high - low, np.float32(0.001))


def normalize(image):
    """The original `load_images` normalization: per-image min-max over all channels.

    `(x - min) / max(max - min, 0.001)` in float32 on `uint8 / 255` values.
    """
    image = np.asarray(image, dtype=np.float32)
    return _min_max_scaled(image, image.min(), image.max())


@contextlib.contextmanager
def _opened(path):
    """Pillow's lazy `Image.open(path)`; a missing or unreadable file is a one-line error."""
    try:
        with Image.open(path) as image:
            yield image
    except FileNotFoundError:
        raise UserError(f"image '{path}' not found") from None
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"cannot read image '{path}': {error}; is it an image file?") from None


def read_rgb(path):
    """Reads any image Pillow can open as uint8 RGB (H, W, 3); grayscale/RGBA/palette converted."""
    with _opened(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def image_size(path):
    """(height, width) of image `path`, from its header (the pixels are not decoded)."""
    with _opened(path) as image:
        return image.height, image.width


def load_image(path):
    """Loads an image as the original does: float32 (H, W, 3) in [0, 1], min-max normalized."""
    pixels = read_rgb(path)
    # The original normalizes the float32 image uint8 / 255 pixel by pixel, so a pixel's value
    # depends only on its uint8 level (and the image's min and max levels): a table of the
    # 256 levels through the same float32 ops gives the same values in one pass.
    levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
    table = _min_max_scaled(levels, levels[pixels.min()], levels[pixels.max()])
    return table[pixels]


def list_images(folder):
    """Sorted image file paths in `folder` (by file name string, as the original's `sort()`)."""
    if not os.path.isdir(folder):
        raise UserError(f"folder '{folder}' does not exist")
    names = sorted(
        name for name in os.listdir(folder) if name.lower().endswith(IMAGE_EXTENSIONS)
    )
    return [os.path.join(folder, name) for name in names]


def image_paths(source, flag="--input"):
    """The images named by `source`: the file itself, or the images of folder `source`."""
    if os.path.isdir(source):
        paths = list_images(source)
        if not paths:
            raise UserError(
                f"{flag} folder '{source}' holds no images ({', '.join(IMAGE_EXTENSIONS)})"
            )
        return paths
    if os.path.isfile(source):
        return [source]
    raise UserError(f"{flag} '{source}' is neither a photo nor a folder")


def list_pairs(split_dir):
    """[(low_path, high_path), ...] of a LOL split folder holding `low/` and `high/`.

    Pairs are matched by file name and sorted by it, as the original scripts' sorted globs.
    Raises `UserError` for a missing or empty folder, or names without a partner.
    """
    low_dir, high_dir = os.path.join(split_dir, "low"), os.path.join(split_dir, "high")
    for folder in (low_dir, high_dir):
        if not os.path.isdir(folder):
            raise UserError(
                f"folder '{folder}' does not exist: a LOL split holds low/ and high/ "
                "(see LOLdataset/README.md)"
            )
    low = {os.path.basename(path): path for path in list_images(low_dir)}
    high = {os.path.basename(path): path for path in list_images(high_dir)}
    if not low and not high:
        raise UserError(f"no images in '{low_dir}' and '{high_dir}': put the LOL pairs there")
    unmatched = sorted(set(low) ^ set(high))
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
        raise UserError(
            f"'{split_dir}': {len(unmatched)} images have no partner of the same name in "
            f"low/ and high/: {shown}"
        )
    return [(low[name], high[name]) for name in sorted(low)]


def check_patch_fits(path, shape, patch_size):
    """Raises `UserError` when image `path` of `shape` (H, W, ...) cannot hold a patch."""
    height, width = shape[:2]
    if height < patch_size or width < patch_size:
        raise UserError(
            f"image '{path}' is {width}x{height}, smaller than the {patch_size}x{patch_size} "
            "training patch: lower --patch_size or remove the image"
        )


def pair_size(low_path, high_path, patch_size):
    """(height, width) of a training pair, checked (from the headers) to be one size that
    holds a `patch_size` patch."""
    low, high = image_size(low_path), image_size(high_path)
    if low != high:
        raise UserError(
            f"'{low_path}' is {low[1]}x{low[0]} but its partner '{high_path}' is "
            f"{high[1]}x{high[0]}: a pair must have one size"
        )
    check_patch_fits(low_path, low, patch_size)
    return low


def _aligned_zeros(shape, alignment=64):
    """`np.zeros(shape, np.float32)` starting on an `alignment`-byte boundary (TensorFlow's
    tensor alignment, so that a tensor can share the memory)."""
    size = int(np.prod(shape)) * 4
    buffer = np.zeros(size + alignment, np.uint8)
    offset = -buffer.ctypes.data % alignment
    return buffer[offset : offset + size].view(np.float32).reshape(shape)


class ImageStack:
    """Training images of any sizes, zero-padded into one (N, H_max, W_max, C) float32 stack.

    `stack[i] = image` copies (H_i, W_i, C) image i into it; `variable` then hands the stack to
    the patch pipeline as a CPU `tf.Variable` sharing its memory, so the training set is held
    once (a list of arrays copied into a variable peaks at four copies). `sizes` holds each
    image's (H_i, W_i); `stack[i]` reads image i back.
    """

    def __init__(self, sizes, channels):
        self.sizes = np.array(sizes, np.int32).reshape(-1, 2)
        height, width = self.sizes.max(axis=0) if len(self.sizes) else (0, 0)
        self._array = _aligned_zeros((len(self.sizes), height, width, channels))
        self._variable = None

    @classmethod
    def from_arrays(cls, images):
        """A stack of the (H, W, C) arrays `images`."""
        stack = cls([image.shape[:2] for image in images], images[0].shape[2])
        for index, image in enumerate(images):
            stack[index] = image
        return stack

    def __len__(self):
        return len(self.sizes)

    def __setitem__(self, index, image):
        if self._variable is not None:
            raise ValueError("the ImageStack is already a variable: fill it before `variable`")
        expected = (*self.sizes[index].tolist(), self._array.shape[3])
        if image.shape != expected:
            raise ValueError(f"image {index} has shape {image.shape}, expected {expected}")
        self._array[index, : expected[0], : expected[1]] = image

    def __getitem__(self, index):
        height, width = self.sizes[index]
        if self._variable is not None:
            return self._variable[index, :height, :width].numpy()
        return self._array[index, :height, :width]

    def __iter__(self):
        return (self[index] for index in range(len(self)))

    @property
    def variable(self):
        """The stack as a CPU `tf.Variable` sharing its memory (made once; no copy).

        `tf.Variable(array)` would copy the set through two transient copies, and slot-wise
        writes into a variable (scatter or sliced assign) switch it to copy-on-read, which
        makes every patch read copy the set. DLPack hands the aligned array over as it is;
        the stack is read-only from then on.
        """
        if self._variable is None:
            with tf.device("/CPU:0"):
                shared = tf.experimental.dlpack.from_dlpack(self._array.__dlpack__())
                self._variable = tf.Variable(shared, trainable=False, name="training_images")
            self._array = None
        return self._variable


def side_by_side(*images):
    """The images, batch/channel axes of size 1 squeezed, concatenated left to right."""
    return np.concatenate([np.squeeze(np.asarray(image)) for image in images], axis=1)


def save_images(path, *images, compress_level=outputs.PNG_COMPRESS_LEVEL):
    """The original `save_images`: squeezed images side by side, `uint8(clip(x * 255))`, PNG.

    Like the original, values are truncated, not rounded. The file is written whole or not at
    all (`outputs.write_png`).
    """
    outputs.write_png(path, outputs.to_uint8(side_by_side(*images)),
                      compress_level=compress_level)


def augmented_pixels(modes, size):
    """Where the pixels of the original `data_augmentation(crop, mode)` come from.

    For a batch of `modes` (B,) in 0..7 and square (size, size) crops: (rows, cols), each
    (B, size, size), such that augmented[b, i, j] = crop[b, rows[b, i, j], cols[b, i, j]].
    Mode m is `np.rot90(crop, k=m // 2)` (counter-clockwise), then for odd m `np.flipud`:
    0 identity, 1 flipud, 2 rot90, 3 flipud(rot90), ..., 7 flipud(rot90 k=3).
    """
    last = size - 1
    i = tf.range(size)[None, :, None]
    j = tf.range(size)[None, None, :]
    modes = tf.cast(modes, tf.int32)[:, None, None]
    i = tf.where(modes % 2 == 1, last - i, i)  # The flip, last in the original, maps i first.
    k = modes // 2  # np.rot90: out[i, j] = in[j, last - i] (k 1), in[last - i, last - j] (2),
    # in[last - j, i] (3).
    rows = tf.where(k == 0, i, tf.where(k == 1, j, tf.where(k == 2, last - i, last - j)))
    cols = tf.where(k == 0, j, tf.where(k == 1, last - i, tf.where(k == 2, last - j, i)))
    shape = [tf.shape(modes)[0], size, size]
    return tf.broadcast_to(rows, shape), tf.broadcast_to(cols, shape)


def patch_dataset(
    images, patch_size, batch_size, seed, to_example, modes=8, reshuffle=True, first_patch=0
):
    """The original scripts' patch sampling as an infinite, prefetching `tf.data` pipeline.

    `images` is an `ImageStack` (or a list of (H, W, C) float32 arrays), each image holding
    every input of one training pair stacked on the channel axis (e.g. low and high, 6
    channels), so that both images of a pair get the same crop and the same flip/rotation.
    Patch k of the stream comes from the next image of a cyclic pass over `images`; as in the
    original, the first pass goes in order and, when `reshuffle`, every later pass in a new
    random order. Each patch has a uniform random position (`random.randint(0, h -
    patch_size)`) and a uniform `augmented_pixels` mode in [0, `modes`).

    `to_example(patches, seed)` turns a (batch_size, patch, patch, C) batch of patches into
    the batch of examples the train step takes; `seed` is a stateless-random seed for
    randomness of its own. Each batch is cut in one gather (a patch at a time took twice the
    CPU, which the input pipeline shares with the train step). Everything is stateless-random
    from `seed` and the batch number, so `first_patch` (a multiple of `batch_size`) resumes
    the stream exactly where a run that trained on `first_patch` patches left off.
    """
    if first_patch % batch_size:
        raise ValueError(f"first_patch {first_patch} is not a multiple of batch_size {batch_size}")
    if not isinstance(images, ImageStack):
        images = ImageStack.from_arrays(images)
    count = len(images)
    sizes = tf.constant(images.sizes)
    # A variable, not a constant: tf.data would copy a captured constant into the pipeline's
    # graph (the whole training set); a variable is captured by reference.
    store = images.variable
    order_seed, batch_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.constant([seed, 0], tf.int64), num=2)
    )
    # The patches of one batch come from at most this many consecutive passes.
    passes_per_batch = (batch_size - 1) // count + 2

    def pass_order(pass_number):
        shuffled = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=tf.random.experimental.stateless_fold_in(order_seed, pass_number)
        )
        return tf.where(pass_number == 0, tf.range(count), shuffled)

    def image_ids(patch_numbers):
        passes, positions = patch_numbers // count, patch_numbers % count
        if not reshuffle:
            return tf.cast(positions, tf.int32)
        orders = tf.stack([pass_order(passes[0] + offset) for offset in range(passes_per_batch)])
        return tf.gather_nd(orders, tf.stack([passes - passes[0], positions], axis=-1))

    def cut_batch(batch_number):
        ids = image_ids(batch_number * batch_size + tf.range(batch_size, dtype=tf.int64))
        draw_seed, example_seed = tf.unstack(tf.random.experimental.stateless_split(
            tf.random.experimental.stateless_fold_in(batch_seed, batch_number), num=2
        ))
        # Full-range integers mod n: uniform on [0, n) to within n / 2**63.
        draws = tf.random.stateless_uniform(
            [3, batch_size], draw_seed, minval=None, maxval=None, dtype=tf.int64
        )
        room = tf.cast(tf.gather(sizes, ids) - patch_size + 1, tf.int64)
        top = tf.cast(tf.math.floormod(draws[0], room[:, 0]), tf.int32)[:, None, None]
        left = tf.cast(tf.math.floormod(draws[1], room[:, 1]), tf.int32)[:, None, None]
        rows, cols = augmented_pixels(tf.math.floormod(draws[2], modes), patch_size)
        indices = tf.stack([tf.broadcast_to(ids[:, None, None], tf.shape(rows)),
                            rows + top, cols + left], axis=-1)
        # `value()` reads the variable as a tensor; a gather on the variable itself would
        # switch it to copy-on-read (see `ImageStack.variable`).
        return to_example(tf.gather_nd(store.value(), indices), example_seed)

    return (
        tf.data.Dataset.counter(first_patch // batch_size)
        .map(cut_batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
