"""The three stages' data, examples and samples, as the original training scripts prepare them."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import REPO_ROOT, stored_images
from kind_tf import checkpoints, image_io, image_store, lol_pairs, stages, train_config
from kind_tf.errors import UserError
from kind_tf.models import DecomNet, IllumAdjustNet, RestorationNet


def make_lol(root, train_pairs, eval_pairs, size=(40, 30)):
    """A LOL folder of random pairs (W, H = `size`)."""
    rng = np.random.default_rng(0)
    for split, count in (("our485", train_pairs), ("eval15", eval_pairs)):
        for index in range(count):
            for side in ("low", "high"):
                os.makedirs(os.path.join(root, split, side), exist_ok=True)
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(os.path.join(root, split, side, f"{index}.png"))
    return root


def config(tmp_path, patch_size=16, **options):
    return train_config.Config(
        data_dir=str(tmp_path / "LOL"), ckpt_dir=str(tmp_path / "ckpt"), sample_dir="unused",
        tensorboard_dir="unused", seed=0, epochs=1, batch_size=2, patch_size=patch_size, save_every=1,
        strategy="default", lr_at=lambda epoch: 1e-4, **options,
    )


@pytest.fixture
def with_decom(tmp_path, reference_checkpoint):
    """tmp_path with a small LOL folder and the authors' DecomNet in ckpt/decom_net_train."""
    make_lol(str(tmp_path / "LOL"), train_pairs=5, eval_pairs=2)
    shutil.copytree(reference_checkpoint("decom_net_train"),
                    str(tmp_path / "ckpt" / "decom_net_train"))
    return tmp_path


def authors_decom(reference_checkpoint):
    net = DecomNet()
    checkpoints.load_weights(net, reference_checkpoint("decom_net_train"))
    return net


def decompose(net, paths):
    """[(R, L)] of the image files `paths`, each decomposed on its own by `net`."""
    return [tuple(output[0].numpy() for output in net(image_io.load_image(path)[None]))
            for path in paths]


def test_decom_stage(tmp_path):
    make_lol(str(tmp_path / "LOL"), train_pairs=3, eval_pairs=2)
    stage = stages.decom_stage(config(tmp_path))
    pairs = lol_pairs.list_pairs(str(tmp_path / "LOL" / "our485"))
    assert len(stage.images) == 3 and stage.images.dtype == np.uint8  # levels, as stored
    images = stored_images(stage.images)
    assert images[0].shape == (30, 40, 6)
    # The values patches are cut from: the original's normalized float32, bit for bit.
    np.testing.assert_array_equal(images[2][..., :3], image_io.load_image(pairs[2][0]))
    np.testing.assert_array_equal(images[2][..., 3:], image_io.load_image(pairs[2][1]))
    assert (stage.augment_modes, stage.reshuffle) == (8, True)
    example = stage.to_example(tf.constant(images[0][None]), tf.constant([0, 0]))
    np.testing.assert_array_equal(example["high"][0], images[0][..., 3:])
    samples = stage.samples(DecomNet(), 7)
    assert [name for name, _ in samples] == ["low_1_7.png", "high_1_7.png", "low_2_7.png",
                                            "high_2_7.png"]
    reflectance, illumination = samples[0][1]
    assert reflectance.shape == illumination.shape == (1, 30, 40, 3)  # I_low_3, as the original


def test_decom_stage_is_the_original_loss_by_default(tmp_path):
    make_lol(str(tmp_path / "LOL"), train_pairs=3, eval_pairs=1)
    stage = stages.decom_stage(config(tmp_path))
    assert stage.term_names == stages.DECOM_TERMS and stage.callbacks == ()
    assert stage.loss is stages.decom_batch_loss


@pytest.mark.parametrize("after", [0.0, 0.5])
def test_decom_illumination_prior_warms_up_then_takes_its_weight_after(tmp_path, after):
    make_lol(str(tmp_path / "LOL"), train_pairs=3, eval_pairs=1)
    stage = stages.decom_stage(config(tmp_path, decom_options=train_config.DecomOptions(
        prior_weight=2.0, prior_epochs=2, prior_weight_after=after)))
    assert stage.term_names == stages.DECOM_TERMS + ("illumination_prior",)
    (schedule,) = stage.callbacks
    net = DecomNet()
    patches = tf.constant(np.stack(stored_images(stage.images)[:2]))
    batch = stage.to_example(patches, tf.constant([0, 0]))
    original = float(stages.decom_batch_loss(net, batch)["total"])
    totals = []
    for epoch in range(3):
        schedule.on_epoch_begin(epoch)
        terms = stage.loss(net, batch)
        totals.append(float(terms["total"]))
        prior = float(terms["illumination_prior"])
    assert prior > 0
    # Epochs 1 and 2 at the warm-up weight, epoch 3 at the weight after (0: the original).
    np.testing.assert_allclose(totals, [original + 2.0 * prior] * 2 + [original + after * prior],
                               rtol=1e-6)


def test_decom_illumination_prior_offset_reaches_the_loss(tmp_path):
    make_lol(str(tmp_path / "LOL"), train_pairs=3, eval_pairs=1)
    stage = stages.decom_stage(config(tmp_path, decom_options=train_config.DecomOptions(
        prior_weight=1.0, prior_offset=0.05)))
    net = DecomNet()
    patches = tf.constant(np.stack(stored_images(stage.images)[:2]))
    batch = stage.to_example(patches, tf.constant([0, 0]))
    expected = stages.decom_batch_loss(net, batch, 1.0, 0.05)["illumination_prior"]
    assert float(expected) != float(stages.decom_batch_loss(net, batch, 1.0)["illumination_prior"])
    np.testing.assert_allclose(stage.loss(net, batch)["illumination_prior"], expected, rtol=1e-6)


def test_exclude_pairs_leaves_the_listed_training_pairs_out(tmp_path, capsys):
    make_lol(str(tmp_path / "LOL"), train_pairs=5, eval_pairs=1)
    listed = tmp_path / "suspect.txt"
    listed.write_text("1.png  # structure correlation 0.1 < 0.6\n3.png\n")
    stage = stages.decom_stage(config(tmp_path, exclude_pairs=str(listed)))
    assert len(stage.images) == 3
    kept = [pair for pair in lol_pairs.list_pairs(str(tmp_path / "LOL" / "our485"))
            if os.path.basename(pair[0]) not in ("1.png", "3.png")]
    np.testing.assert_array_equal(stored_images(stage.images)[2][..., :3],
                                  image_io.load_image(kept[2][0]))
    out = capsys.readouterr().out
    assert f"left out: pair '1.png' (listed in {listed})" in out and "'3.png'" in out


def test_stages_refuse_images_smaller_than_the_patch(tmp_path, capsys):
    make_lol(str(tmp_path / "LOL"), train_pairs=2, eval_pairs=1, size=(40, 30))
    with pytest.raises(UserError, match="none of the 2 training pairs can be used; the first: .*40x30"):
        stages.decom_stage(config(tmp_path, patch_size=32))
    assert "our485/low/0.png' is 40x30" in capsys.readouterr().err


def test_a_bad_pair_is_reported_and_skipped(tmp_path, capsys):
    make_lol(str(tmp_path / "LOL"), train_pairs=4, eval_pairs=1)
    with open(tmp_path / "LOL" / "our485" / "high" / "1.png", "wb") as broken:
        broken.write(b"not a png")
    Image.new("RGB", (8, 8)).save(tmp_path / "LOL" / "our485" / "low" / "2.png")  # wrong size
    stage = stages.decom_stage(config(tmp_path))
    assert len(stage.images) == 2
    err = capsys.readouterr().err
    assert "skipped: cannot read image" in err and "1.png" in err
    assert "skipped: '" in err and "one size" in err and "training on 2 of 4 pairs" in err


def test_train_pairs_and_num_samples(with_decom):
    stage = stages.restoration_stage(config(with_decom, train_pairs=2, num_samples=1))
    assert len(stage.images) == 2
    assert len(stage.samples(RestorationNet(), 1)) == 1 + 2  # pair 3 (after skipping 2), eval15
    stage = stages.adjustment_stage(config(with_decom, train_pairs=2, num_samples=2))
    assert len(stage.samples(IllumAdjustNet(), 1)) == 2  # pairs 3 and 4


def test_decompositions_are_computed_once_and_shared(with_decom, reference_checkpoint, capsys):
    stages.restoration_stage(config(with_decom))
    out = capsys.readouterr().out
    assert "decomposing 10 of 10 training images" in out
    assert "decomposing 2 of 2 sample images" in out
    cache = str(with_decom / "ckpt" / "cache")
    (folder,) = os.listdir(cache)  # one DecomNet
    assert len(os.listdir(os.path.join(cache, folder))) == 12
    stage = stages.adjustment_stage(config(with_decom))  # and a resume, and the next stage
    out = capsys.readouterr().out
    assert "decompositions of 10 training images: all cached" in out
    pairs = lol_pairs.list_pairs(str(with_decom / "LOL" / "our485"))
    (_, l_low), (_, l_high) = decompose(authors_decom(reference_checkpoint), pairs[0])
    np.testing.assert_array_equal(stored_images(stage.images)[0],
                                  np.concatenate([l_low, l_high], -1))
    shutil.rmtree(with_decom / "ckpt" / "decom_net_train")  # other weights: a new cache
    shutil.copytree(reference_checkpoint("decom_net_train"),
                    str(with_decom / "ckpt" / "decom_net_train"))
    net = DecomNet()
    checkpoints.load_net(net, str(with_decom / "ckpt"))
    net.weights[0].assign(net.weights[0] * 1.01)
    checkpoints.save_weights(net, str(with_decom / "ckpt" / "decom_net_train"))
    stages.adjustment_stage(config(with_decom))
    assert "decomposing 10 of 10 training images" in capsys.readouterr().out
    assert len(os.listdir(cache)) == 2


@pytest.mark.parametrize("stage_fn", [stages.decom_stage, stages.restoration_stage])
def test_a_set_over_the_memory_budget_streams_the_same_images(with_decom, stage_fn, capsys):
    in_memory = stage_fn(config(with_decom))
    streamed = stage_fn(config(with_decom, memory_budget=1000))  # bytes: the set is larger
    assert in_memory.images.in_memory and not streamed.images.in_memory
    assert "streamed from" in capsys.readouterr().out
    (store,) = os.listdir(with_decom / "ckpt" / "cache" / "stores")
    written_store = image_store.ImageStore.open(
        str(with_decom / "ckpt" / "cache" / "stores" / store), in_memory=True)
    for streamed_image, image in zip(stored_images(written_store),
                                     stored_images(in_memory.images), strict=True):
        np.testing.assert_array_equal(streamed_image, image)
    written = os.path.getmtime(with_decom / "ckpt" / "cache" / "stores" / store)
    forced = stage_fn(config(with_decom, data_mode="stream"))  # reused, not rewritten
    assert not forced.images.in_memory
    assert os.path.getmtime(with_decom / "ckpt" / "cache" / "stores" / store) == written


def test_restoration_stage(with_decom, reference_checkpoint):
    stage = stages.restoration_stage(config(with_decom))
    assert len(stage.images) == 5 and stored_images(stage.images)[0].shape == (30, 40, 7)
    pairs = lol_pairs.list_pairs(str(with_decom / "LOL" / "our485"))
    (r_low, l_low), (r_high, _) = decompose(authors_decom(reference_checkpoint), pairs[4])
    expected = np.concatenate([r_low, l_low, r_high**1.2], -1)  # target R_high ** 1.2
    np.testing.assert_allclose(stored_images(stage.images)[4], expected, atol=1e-5)
    example = stage.to_example(tf.constant(expected[None]), tf.constant([0, 0]))
    np.testing.assert_array_equal(example["target"][0], expected[..., 4:])
    samples = stage.samples(RestorationNet(), 3)  # fewer than 466 pairs: eval15 only
    assert [name for name, _ in samples] == ["eval_1_3.png", "eval_2_3.png"]
    assert samples[0][1][1].shape == (1, 30, 40, 3)


def test_restoration_stage_keeps_the_original_split(with_decom, monkeypatch):
    monkeypatch.setattr(stages, "RESTORATION_TRAIN_PAIRS", 3)
    stage = stages.restoration_stage(config(with_decom))
    assert len(stage.images) == 3  # the first pairs by name
    # Samples: pair 4 (the original skips one: trains on [0:466], samples [467:480]), eval15.
    assert len(stage.samples(RestorationNet(), 1)) == 1 + 2


def test_restoration_stage_needs_the_ssim_window(with_decom):
    with pytest.raises(UserError, match="--patch_size 8 is below the 11x11 SSIM window"):
        stages.restoration_stage(config(with_decom, patch_size=8))


def test_adjustment_stage(with_decom, reference_checkpoint, monkeypatch):
    monkeypatch.setattr(stages, "ADJUSTMENT_TRAIN_PAIRS", 4)
    stage = stages.adjustment_stage(config(with_decom))
    pairs = lol_pairs.list_pairs(str(with_decom / "LOL" / "our485"))
    (_, l_low), (_, l_high) = decompose(authors_decom(reference_checkpoint), pairs[1])
    assert len(stage.images) == 4
    np.testing.assert_allclose(stored_images(stage.images)[1], np.concatenate([l_low, l_high], -1),
                               atol=1e-5)
    assert (stage.augment_modes, stage.reshuffle) == (7, False)  # the original's quirks
    samples = stage.samples(IllumAdjustNet(), 9)  # no pair left after the skipped 4: eval15
    assert len(samples) == 2
    for index, (name, (illumination, adjusted)) in enumerate(samples):
        prefix, epoch, number, ratio = name[:-4].split("_")[1:]
        assert (epoch, number) == ("9", str(index + 1)) and 0 <= float(ratio) < 2
        assert illumination.shape == (30, 40, 1) and adjusted.shape == (1, 30, 40, 1)


@pytest.mark.parametrize("stage", [stages.restoration_stage, stages.adjustment_stage])
def test_later_stages_need_the_decom_checkpoint(tmp_path, stage):
    make_lol(str(tmp_path / "LOL"), train_pairs=2, eval_pairs=1)
    message = r"decom_net_train' not found.*train_decom"
    with pytest.raises(checkpoints.CheckpointError, match=message):
        stage(config(tmp_path))


def test_adjustment_example_ratio_maps_and_direction():
    # A batch of 40 patches: patch b has L_low 0.2 and L_high 0.4 + b / 100.
    highs = 0.4 + np.arange(40, dtype=np.float32) / 100
    patches = np.zeros((40, 4, 4, 2), np.float32)
    patches[..., 0], patches[..., 1] = 0.2, highs[:, None, None]
    example = stages.adjustment_example(tf.constant(patches), tf.constant([3, 1]))
    directions = []
    for index, high in enumerate(highs):
        source = example["illumination"][index].numpy()
        target = example["target"][index].numpy()
        ratio_map = example["ratio_map"][index].numpy()
        ratio = 0.2 / (high + 1e-4)  # this patch's own ratio
        assert ratio_map.shape == (4, 4, 1) and np.all(ratio_map == ratio_map[0, 0])
        if np.allclose(source, 0.2):  # low -> high: map 1 / ratio + 1e-4
            assert np.allclose(target, high)
            np.testing.assert_allclose(ratio_map[0, 0, 0], 1 / ratio + 1e-4, rtol=1e-6)
            directions.append("brighten")
        else:  # high -> low: map ratio
            assert np.allclose(source, high) and np.allclose(target, 0.2)
            np.testing.assert_allclose(ratio_map[0, 0, 0], ratio, rtol=1e-6)
            directions.append("darken")
    assert set(directions) == {"brighten", "darken"}  # a coin per patch


def test_the_registry_holds_each_stage_as_the_original_trains_it():
    assert stages.STAGE_NAMES == ("decom", "restoration", "adjust")
    assert [(spec.net_class().name, spec.folder, spec.script, spec.default_epochs)
            for spec in stages.STAGES] == [
        ("DecomNet", "decom_net_train", "train_decom.py", 2000),
        ("Restoration_net", "Restoration_net_train", "train_restoration.py", 1000),
        ("Illumination_adjust_net", "illumination_adjust_net_train", "train_adjustment.py", 2000),
    ]
    assert [(spec.original.patch_size, spec.original.batch_size, spec.original.lr_schedule(
        1000, 1.0), spec.train_pairs, spec.num_samples) for spec in stages.STAGES] == [
        (48, 10, 1.0, None, 0), (384, 4, 0.5, 466, 13), (48, 10, 1.0, 450, 10)]
    for spec in stages.STAGES:
        assert stages.named(spec.name) is spec and stages.of_net(spec.net_class()) is spec
        assert os.path.isfile(os.path.join(REPO_ROOT, spec.script))
        assert checkpoints.net_folder("root", spec.net_class()) == os.path.join("root",
                                                                               spec.folder)
