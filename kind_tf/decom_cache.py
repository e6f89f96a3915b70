"""The decompositions stages 2 and 3 train on, computed once per (DecomNet weights, image).

The original restoration and adjustment scripts decompose every training image before their
first epoch, each script again (on the full LOL and a shared CPU: 23 minutes without a line
of output). Here each image's (R, L) is written once to `<folder>/<weights>/<image>.npy`,
float32 as the net gives it (float16 would change the training values by up to 2.4e-4), and
read back by both stages and by every resume. An image is known by its real path, size and
modification time; the weights by a hash of their values, so retrained weights never meet
old decompositions.
"""

import hashlib
import os
import sys

import numpy as np
import tensorflow as tf

from kind_tf import image_io, outputs, pipeline, progress
from kind_tf.errors import UserError

# Images larger than this (px) are decomposed tile by tile (`pipeline.run_tiled`, 128 px of
# context): a 12 MP photo at once needs several GiB of activations. LOL-size images are
# decomposed whole, as the original.
DECOMPOSE_TILE = 1024


def weights_fingerprint(net):
    """A hash of `net`'s variable names and values."""
    digest = hashlib.sha256()
    for variable in net.weights:
        digest.update(variable.path.encode())
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()[:16]


def file_fingerprint(path):
    """A hash of the real path, size and modification time of file `path`."""
    status = os.stat(path)
    key = f"{os.path.realpath(path)}:{status.st_size}:{status.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def fingerprint(*parts):
    """A short hash of strings `parts`, for naming stores built from cached data."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class DecompositionCache:
    """(R, L) of images by `decom`, kept in `<folder>/<weights_fingerprint(decom)>/`."""

    def __init__(self, folder, decom):
        self.weights = weights_fingerprint(decom)
        self.folder = os.path.join(folder, self.weights)
        self._decompose = tf.function(decom, reduce_retracing=True)

    def _path(self, image_path):
        return os.path.join(self.folder, f"{file_fingerprint(image_path)}.npy")

    def ensure(self, paths, what="images"):
        """Decomposes the image files `paths` not yet cached, showing progress; returns the
        set of those that could not be read (each reported on one line). One image at a
        time: DecomNet's outputs do not depend on the batch (checked bit for bit)."""
        missing = [path for path in dict.fromkeys(paths) if not os.path.exists(self._path(path))]
        if not missing:
            print(f"decompositions of {len(paths)} {what}: all cached in {self.folder}")
            return set()
        print(f"decomposing {len(missing)} of {len(paths)} {what} with the trained DecomNet "
              f"(cached in {self.folder})")
        os.makedirs(self.folder, exist_ok=True)
        bar = progress.progress_bar(len(missing), "image")
        unreadable = set()
        for done, path in enumerate(missing, 1):
            try:
                image = image_io.load_image(path)[None]
            except UserError as error:
                print(f"\nskipped: {error}", file=sys.stderr)
                unreadable.add(path)
                continue
            with outputs.atomic_write(self._path(path), "wb") as file:
                np.save(file, np.concatenate(self.decompose(image), axis=-1)[0])
            bar.update(done)
        return unreadable

    def decompose(self, image):
        """(R, L) of a normalized (1,H,W,3) image, tiled beyond `DECOMPOSE_TILE` px (an image
        within one tile is one whole-image call)."""
        return pipeline.run_tiled(lambda window: self._decompose(window, training=False),
                                  image, (3, 1), DECOMPOSE_TILE)

    def load(self, image_path):
        """(R (H, W, 3), L (H, W, 1)) of a cached image."""
        decomposed = np.load(self._path(image_path))
        return decomposed[..., :3], decomposed[..., 3:]

    def key(self, paths):
        """A name for data made from the decompositions of `paths`."""
        return fingerprint(self.weights, *map(file_fingerprint, paths))
