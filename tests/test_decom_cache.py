"""Tests for kind_tf.decom_cache: what is cached, and large images decomposed in tiles.

(Reuse across stages and resumes, and new weights giving a new cache, are tested end to end
in test_stages.py.)"""

import numpy as np

from kind_tf import decom_cache, image_io


def test_cached_decomposition_is_the_nets_output(reference_nets, lol_dir, tmp_path):
    decom = reference_nets[0]
    path = f"{lol_dir}/eval15/low/1.png"
    cache = decom_cache.DecompositionCache(str(tmp_path), decom)
    assert cache.ensure([path]) == set()
    reflectance, illumination = cache.load(path)
    expected = decom(image_io.load_image(path)[None])
    np.testing.assert_array_equal(reflectance, expected[0][0])
    np.testing.assert_array_equal(illumination, expected[1][0])


def test_large_images_are_decomposed_in_tiles_equal_to_whole(reference_nets, lol_dir,
                                                              tmp_path, monkeypatch):
    decom = reference_nets[0]
    image = image_io.load_image(f"{lol_dir}/eval15/low/1.png")[None, :256, :384]
    whole = [x.numpy() for x in decom(image)]
    monkeypatch.setattr(decom_cache, "DECOMPOSE_TILE", 128)  # 3x2 tiles
    tiled = decom_cache.DecompositionCache(str(tmp_path), decom).decompose(image)
    for ours, expected in zip(tiled, whole):
        assert ours.shape == expected.shape
        np.testing.assert_allclose(ours, expected, atol=1e-5)
