"""The original scripts' training patches: random crops with flips/rotations, as `tf.data`."""

import tensorflow as tf

from kind_tf import image_store


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


def pixel_rows(offsets, widths, ids, rows, cols):
    """Row numbers in an `ImageStore`'s (pixels, C) array of pixels (rows, cols) of images
    `ids`: int64 (as `offsets`, `widths`, `rows`, `cols`), so that a set of more than 2**31
    values is indexed without overflow (int32 gathers refuse such params)."""
    base = tf.gather(offsets, ids)[:, None, None]
    return base + rows * tf.gather(widths, ids)[:, None, None] + cols


def patch_dataset(
    store, patch_size, batch_size, seed, to_example, modes=8, reshuffle=True, first_patch=0
):
    """The original scripts' patch sampling as an infinite, prefetching `tf.data` pipeline.

    `store` is an `image_store.ImageStore`, each image holding every input of one training
    pair stacked on the channel axis (e.g. low and high, 6 channels), so that both images of
    a pair get the same crop and the same flip/rotation. Patch k of the stream comes from the
    next image of a cyclic pass over the store; as in the original, the first pass goes in
    order and, when `reshuffle`, every later pass in a new random order. Each patch has a
    uniform random position (`random.randint(0, h - patch_size)`) and a uniform
    `augmented_pixels` mode in [0, `modes`). Patches of uint8 stores are normalized as cut.

    `to_example(patches, seed)` turns a (batch_size, patch, patch, C) float32 batch of patches
    into the batch of examples the train step takes; `seed` is a stateless-random seed for
    randomness of its own. An in-memory store is cut a batch at a time in one gather (fewer
    ops than a patch at a time, on the CPU the input pipeline shares with the train step); a
    streamed one reads each batch's crops from its file, then augments them: the same
    patches. Everything is stateless-random from `seed` and the batch number, so
    `first_patch` (a multiple of `batch_size`) resumes the stream exactly where a run that
    trained on `first_patch` patches left off.
    """
    if first_patch % batch_size:
        raise ValueError(f"first_patch {first_patch} is not a multiple of batch_size {batch_size}")
    count = len(store)
    sizes = tf.constant(store.sizes)
    offsets, widths = tf.constant(store.offsets), sizes[:, 1]
    ranges = None if store.ranges is None else tf.constant(store.ranges)
    # A variable, not a constant: tf.data would copy a captured constant into the pipeline's
    # graph (the whole training set); a variable is captured by reference.
    rows_variable = store.variable if store.in_memory else None
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

    def crop_pixels(ids, top, left, rows, cols):
        """The (B, P, P, C) augmented crops, as stored."""
        if rows_variable is not None:
            # `value()` reads the variable as a tensor; a gather on the variable itself would
            # switch it to copy-on-read (see `ImageStore.variable`).
            return tf.gather(rows_variable.value(), pixel_rows(
                offsets, widths, ids, rows + top[:, None, None], cols + left[:, None, None]))
        crops = tf.numpy_function(
            lambda i, t, l: store.read_crops(i, t, l, patch_size), [ids, top, left],
            tf.as_dtype(store.dtype), stateful=False,
        )
        crops.set_shape([batch_size, patch_size, patch_size, store.channels])
        batch = tf.broadcast_to(tf.range(batch_size, dtype=tf.int64)[:, None, None], tf.shape(rows))
        return tf.gather_nd(crops, tf.stack([batch, rows, cols], axis=-1))

    def cut_batch(batch_number):
        ids = image_ids(batch_number * batch_size + tf.range(batch_size, dtype=tf.int64))
        draw_seed, example_seed = tf.unstack(tf.random.experimental.stateless_split(
            tf.random.experimental.stateless_fold_in(batch_seed, batch_number), num=2
        ))
        # Full-range integers mod n: uniform on [0, n) to within n / 2**63.
        draws = tf.random.stateless_uniform(
            [3, batch_size], draw_seed, minval=None, maxval=None, dtype=tf.int64
        )
        room = tf.gather(sizes, ids) - patch_size + 1
        top = tf.math.floormod(draws[0], room[:, 0])
        left = tf.math.floormod(draws[1], room[:, 1])
        rows, cols = (tf.cast(pixels, tf.int64) for pixels in
                      augmented_pixels(tf.math.floormod(draws[2], modes), patch_size))
        patches = crop_pixels(ids, top, left, rows, cols)
        if ranges is not None:
            patches = image_store.normalized(patches, tf.gather(ranges, ids)[:, None, None])
        return to_example(patches, example_seed)

    return (
        tf.data.Dataset.counter(first_patch // batch_size)
        .map(cut_batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
