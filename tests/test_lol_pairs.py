"""LOL-style pairs: listing, sizes, the train/sample split."""

import os

import numpy as np
import pytest
from PIL import Image

from kind_tf import image_io, lol_pairs
from kind_tf.errors import UserError


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
    return lol_pairs.list_pairs(str(tmp_path / name))


def test_list_pairs_reports_unmatched_names(tmp_path):
    split(tmp_path, [((8, 8), (8, 8))])
    write_png(str(tmp_path / "our485" / "low" / "extra.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match="extra.png"):
        lol_pairs.list_pairs(str(tmp_path / "our485"))


def test_pair_size_checks_sizes_from_the_headers(tmp_path):
    (pair,) = split(tmp_path, [((60, 50), (60, 50))])
    assert lol_pairs.pair_size(*pair, patch_size=48) == (50, 60)
    with pytest.raises(UserError, match=r"0\.png' is 60x50, smaller than the 51x51"):
        lol_pairs.pair_size(*pair, patch_size=51)
    (pair,) = split(tmp_path / "b", [((60, 50), (50, 60))])
    with pytest.raises(UserError, match="one size"):
        lol_pairs.pair_size(*pair, patch_size=8)


def test_pair_size_reports_unreadable_image(tmp_path):
    (pair,) = split(tmp_path, [((8, 8), (8, 8))])
    with open(pair[1], "wb") as broken:
        broken.write(b"not a png")
    with pytest.raises(UserError, match="cannot read image"):
        lol_pairs.pair_size(*pair, patch_size=8)
    # A truncated file passes the header check, then fails to decode, as clearly.
    (pair,) = split(tmp_path / "b", [((64, 64), (64, 64))])
    content = open(pair[0], "rb").read()
    with open(pair[0], "wb") as truncated:
        truncated.write(content[: len(content) // 2])
    assert lol_pairs.pair_size(*pair, patch_size=8) == (64, 64)
    with pytest.raises(UserError, match="cannot read image .*0.png"):
        image_io.load_image(pair[0])


def test_split_is_the_original_on_lol_and_all_but_the_samples_beyond():
    lol = list(range(485))
    train, samples = lol_pairs.split(lol, None, 13, original_train_pairs=466)
    assert train == lol[:466] and samples == lol[467:480]  # restoration
    train, samples = lol_pairs.split(lol, None, 10, original_train_pairs=450)
    assert train == lol[:450] and samples == lol[451:461]  # adjustment
    assert lol_pairs.split(lol, None, 0) == (lol, [])  # decomposition: all
    small = list(range(41))
    assert lol_pairs.split(small, None, 13, original_train_pairs=466) == (small, [])
    big = list(range(10_000))
    train, samples = lol_pairs.split(big, None, 13, original_train_pairs=466)
    assert train == big[:9986] and samples == big[9987:]
    train, samples = lol_pairs.split(big, 100, 3, original_train_pairs=466)
    assert train == big[:100] and samples == big[101:104]


@pytest.mark.parametrize("train_pairs, num_samples, message", [
    (0, 1, "--train_pairs 0: the training set has 5 pairs; pass 1 to 5"),
    (6, 1, "--train_pairs 6"),
    (2, -1, "--num_samples must be 0 or more"),
])
def test_split_rejects_counts_the_set_cannot_give(train_pairs, num_samples, message):
    with pytest.raises(UserError, match=message):
        lol_pairs.split(list(range(5)), train_pairs, num_samples)


def test_read_exclusions_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("648.png  # structure correlation 0.482 < 0.6\n\n# a note\n 142.png\n")
    assert lol_pairs.read_exclusions(str(path)) == {"648.png", "142.png"}
    with pytest.raises(UserError, match="--exclude_pairs: cannot read"):
        lol_pairs.read_exclusions(str(tmp_path / "missing.txt"))
