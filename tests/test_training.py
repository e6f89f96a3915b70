"""The shared training loop: the train step, resume, guards and logs."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from kind_tf import (checkpoints, image_io, image_store, models, outputs, stages, train_config,
                     training)
from kind_tf.errors import UserError
from kind_tf.models import DecomNet, IllumAdjustNet, RestorationNet
from test_summaries import read_events


def one_batch(name, rng, batch_size=2, size=24):
    def uniform(channels):
        return rng.random((batch_size, size, size, channels), dtype=np.float32)

    if name == "decom":
        high = uniform(3)
        return DecomNet, stages.decom_batch_loss, stages.DECOM_TERMS, {
            "low": high * 0.2, "high": high}
    if name == "restoration":
        return RestorationNet, stages.restoration_batch_loss, stages.RESTORATION_TERMS, {
            "reflectance": uniform(3), "illumination": uniform(1), "target": uniform(3)}
    illumination = uniform(1) * 0.2
    return IllumAdjustNet, stages.adjust_batch_loss, stages.ADJUST_TERMS, {
        "illumination": illumination, "ratio_map": np.full_like(illumination, 5.0),
        "target": np.sqrt(illumination)}


@pytest.mark.parametrize("name, precision", [
    ("decom", "fp32"), ("restoration", "fp32"), ("adjust", "fp32"), ("decom", "bf16"),
])
def test_loss_falls_when_fitting_one_batch(name, precision):
    keras.utils.set_random_seed(0)
    build, loss, terms, batch = one_batch(name, np.random.default_rng(0))
    net = build(dtype=models.dtype_policy(precision))
    before = float(loss(net, batch)["total"])
    trainer = training.StageTrainer(net, loss, terms)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    history = trainer.fit(dataset, epochs=4, steps_per_epoch=10, shuffle=False, verbose=0).history
    assert set(history) == set(terms)  # every term reported, as an epoch mean
    assert float(loss(net, batch)["total"]) < 0.8 * before


# One StageTrainer.train_step (DecomNet, SGD) on a batch of 4: on one device, and under
# MirroredStrategy on 2 logical CPUs (set up before TensorFlow starts, hence a subprocess),
# each replica taking 2. SGD, as Adam's first steps hardly depend on the gradient's scale:
# the update is then proportional to the gradient the replicas' sum gives.
MIRRORED_TRAIN_STEP = """
import json, sys
import keras
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
from kind_tf import stages, training
from kind_tf.models import DecomNet

high = np.random.default_rng(0).random((4, 24, 24, 3), dtype=np.float32)
batch = {"low": high * 0.2, "high": high}
keras.utils.set_random_seed(0)
initial = DecomNet().get_weights()

def one_step(strategy):
    with strategy.scope():
        net = DecomNet()
        net.set_weights(initial)
        trainer = training.StageTrainer(net, stages.decom_batch_loss, stages.DECOM_TERMS)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    history = trainer.fit(tf.data.Dataset.from_tensors(batch), epochs=1, steps_per_epoch=1,
                          shuffle=False, verbose=0).history
    return [new - old for new, old in zip(net.get_weights(), initial)], history["total"][0]

single, single_total = one_step(tf.distribute.get_strategy())
mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
mirrored, mirrored_total = one_step(mirrored_strategy)
print(json.dumps({
    "replicas": mirrored_strategy.num_replicas_in_sync,
    "single_total": single_total, "mirrored_total": mirrored_total,
    "update_scale": max(float(np.abs(update).max()) for update in single),
    "update_difference": max(float(np.abs(a - b).max()) for a, b in zip(mirrored, single)),
}))
"""


@pytest.mark.slow
def test_mirrored_train_step_updates_as_one_device_on_the_global_batch():
    result = subprocess.run([sys.executable, "-c", MIRRORED_TRAIN_STEP, REPO_ROOT],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["replicas"] == 2
    np.testing.assert_allclose(values["mirrored_total"], values["single_total"], rtol=1e-6)
    # Measured: updates up to 1.3e-2 agree to 1.8e-8. Without the division by the replicas
    # the mirrored update is twice the single one.
    assert values["update_scale"] > 1e-3
    assert values["update_difference"] <= 1e-5 * values["update_scale"]


def test_non_finite_loss_stops_with_a_clear_error(tmp_path):
    guard = training._StopOnNonFiniteLoss(str(tmp_path))
    guard.on_epoch_end(0, {"total": 0.5, "learning_rate": 1e-4})
    with pytest.raises(training.NonFiniteLossError, match=r"\(grad, total\) in epoch 3.*--lr"):
        guard.on_epoch_end(2, {"total": float("nan"), "grad": float("inf")})


def stage_images(rng):
    return [rng.random((30, 40, 2), dtype=np.float32) for _ in range(4)]


def tiny_stage(rng, samples_seen=None):
    images = stage_images(rng)
    store = image_store.ImageStore.create([(30, 40)] * 4, 2, np.float32)
    for index, image in enumerate(images):
        store.put(index, image)

    def samples(predict, epoch):
        illumination = images[0][None, ..., :1]
        adjusted = predict([illumination, np.ones_like(illumination)], training=False)
        return [(f"sample_{epoch}.png", [illumination, adjusted])]

    return training.Stage(IllumAdjustNet, stages.adjust_batch_loss, stages.ADJUST_TERMS,
                          store, stages.adjustment_example, samples, 7, False)


def tiny_config(tmp_path, **changes):
    config = dict(
        data_dir="unused", ckpt_dir=str(tmp_path / "ckpt"), sample_dir=str(tmp_path / "samples"),
        tensorboard_dir=str(tmp_path / "logs"), seed=3, epochs=2, batch_size=2, patch_size=16,
        save_every=1, strategy="default", lr_at=lambda epoch: 1e-3 / (epoch + 1),
    )
    config.update(changes)
    return train_config.Config(**config)


def adjust_folder(tmp_path):
    return str(tmp_path / "ckpt" / "illumination_adjust_net_train")


def test_train_saves_and_resumes_with_optimizer_state(tmp_path, capsys):
    stage = tiny_stage(np.random.default_rng(0))
    assert training.train(stage, tiny_config(tmp_path)) == 2
    folder = adjust_folder(tmp_path)
    assert tf.train.latest_checkpoint(folder).endswith("model.ckpt-2")
    assert sorted(os.listdir(tmp_path / "samples" / "illumination_adjust_net_train")) == [
        "sample_1.png", "sample_2.png"]
    # The checkpoint holds the weights under their TF1 names (loadable for inference) ...
    net = IllumAdjustNet()
    checkpoints.load_weights(net, folder)
    # ... and the optimizer state and epoch.
    reader = tf.train.load_checkpoint(folder)
    keys = reader.get_variable_to_shape_map()
    assert reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == 2
    assert reader.get_tensor(next(k for k in keys if "iterations" in k)) == 4  # 2 epochs x 2

    assert training.train(stage, tiny_config(tmp_path, epochs=3)) == 3
    output = capsys.readouterr().out
    assert "resuming from" in output and "model.ckpt-2 at epoch 2" in output
    assert "epochs 3..3" in output
    reader = tf.train.load_checkpoint(folder)
    assert reader.get_tensor(next(k for k in keys if "iterations" in k)) == 6
    restored = IllumAdjustNet()
    checkpoints.load_weights(restored, folder)
    steps = [np.abs(after - before).max()
             for after, before in zip(restored.get_weights(), net.get_weights())]
    # Epoch 3 went on from the epoch-2 weights by its two Adam steps at lr 1e-3 / 3: every
    # variable moved (measured: the least-moved by 4.4e-4), none by more than about two
    # steps (measured 6.7e-4; a fresh initialization would be ~0.1 away).
    assert 1e-4 < min(steps) and max(steps) < 1e-3

    # Already done: nothing to train.
    assert training.train(stage, tiny_config(tmp_path, epochs=3)) == 3
    assert "already trained to epoch 3" in capsys.readouterr().out


def test_resumed_run_ends_where_an_uninterrupted_run_does(tmp_path):
    def trained_weights(folder, stops):
        stage = tiny_stage(np.random.default_rng(0))
        for epochs in stops:
            training.train(stage, tiny_config(folder, epochs=epochs))
        net = IllumAdjustNet()
        checkpoints.load_weights(net, adjust_folder(folder))
        return net.get_weights()

    # Same weights, optimizer state, learning rate and patch stream after the restart.
    for resumed, straight in zip(trained_weights(tmp_path / "resumed", [1, 3]),
                                 trained_weights(tmp_path / "straight", [3])):
        np.testing.assert_array_equal(resumed, straight)


def test_bf16_training_keeps_fp32_weights_and_checkpoints(tmp_path):
    stage = tiny_stage(np.random.default_rng(0))
    assert training.train(stage, tiny_config(tmp_path, precision="bf16")) == 2
    reader = tf.train.load_checkpoint(adjust_folder(tmp_path))
    kernels = [key for key in reader.get_variable_to_shape_map() if "en_conv_1" in key]
    assert kernels and all(
        reader.get_variable_to_dtype_map()[key] == tf.float32 for key in kernels
    )
    # An fp32 net (inference, or an fp32 run resuming) loads them as they are.
    net = IllumAdjustNet()
    checkpoints.load_weights(net, adjust_folder(tmp_path))
    # The epoch-2 sample is the bf16 net of that checkpoint on the sample input.
    bf16_net = IllumAdjustNet(dtype=models.dtype_policy("bf16"))
    checkpoints.load_weights(bf16_net, adjust_folder(tmp_path))
    illumination = stage_images(np.random.default_rng(0))[0][None, ..., :1]
    adjusted = bf16_net([illumination, np.ones_like(illumination)], training=False)
    sample = image_io.read_rgb(
        tmp_path / "samples" / "illumination_adjust_net_train" / "sample_2.png").astype(int)
    expected = outputs.to_uint8(outputs.side_by_side(illumination, adjusted)).astype(int)
    # Written as grayscale; measured equal (the fp32 net's sample differs on 1.3% of pixels).
    np.testing.assert_array_equal(sample, np.repeat(expected[..., None], 3, axis=-1))
    assert training.train(stage, tiny_config(tmp_path, epochs=3)) == 3


def test_train_logs_scalars_and_images_for_tensorboard(tmp_path):
    training.train(tiny_stage(np.random.default_rng(1)), tiny_config(tmp_path))
    plugins, values = read_events(tmp_path / "logs" / "illumination_adjust_net_train")
    assert plugins == {"total": "scalars", "square": "scalars", "grad": "scalars",
                       "learning_rate": "scalars", "sample_1": "images"}
    np.testing.assert_allclose([values["learning_rate"][step] for step in (1, 2)], [1e-3, 5e-4])
    assert set(values["sample_1"]) == {1, 2}


def test_train_refuses_to_overwrite_an_authors_checkpoint(tmp_path, reference_checkpoint):
    shutil.copytree(reference_checkpoint("illumination_adjust_net_train"), adjust_folder(tmp_path))
    with pytest.raises(UserError, match="TF1 checkpoint.*another --ckpt_dir"):
        training.train(tiny_stage(np.random.default_rng(0)), tiny_config(tmp_path))


def test_train_reports_a_checkpoint_of_another_net(tmp_path):
    checkpoints.save_weights(DecomNet(), adjust_folder(tmp_path))
    with pytest.raises(checkpoints.CheckpointError, match="cannot resume"):
        training.train(tiny_stage(np.random.default_rng(0)), tiny_config(tmp_path))


def test_train_needs_a_full_batch_of_pairs(tmp_path):
    with pytest.raises(UserError, match="4 training pairs are fewer than --batch_size 5"):
        training.train(tiny_stage(np.random.default_rng(0)), tiny_config(tmp_path, batch_size=5))


@pytest.mark.parametrize("steps_per_epoch, expected", [
    (1, 1), (4, 4), (48, 16), (46, 2), (116, 4), (17, 1),
])
def test_steps_per_execution_divides_the_epoch(steps_per_epoch, expected):
    assert training.steps_per_execution(steps_per_epoch) == expected
