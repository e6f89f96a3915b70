"""Tests for kind_tf.checkpoints: TF1 name mapping, own format, format detection, errors."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from kind_tf import checkpoints
from kind_tf.checkpoints import CheckpointError
from kind_tf.errors import UserError
from kind_tf.models import DecomNet, IllumAdjustNet, RestorationNet


def _write_tf1_checkpoint(prefix, tensors):
    """Writes a name-based (TF1 Saver layout) checkpoint of {name: array}."""
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[name]) for name in names],
    )
    return prefix


def _reference_tensors(folder):
    reader = tf.train.load_checkpoint(folder)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_variable_names_are_the_tf1_names(reference_dir):
    listed = {}
    with open(os.path.join(reference_dir, "golden", "variables.txt")) as listing:
        for line in listing:
            if line.startswith("#"):
                continue
            name, rest = line.split(":0, ")
            listed[name] = [int(d) for d in rest.split("]")[0].strip("[").split(",")]
    ours = {}
    for net in (DecomNet(), RestorationNet(), IllumAdjustNet()):
        ours.update({n: list(v.shape) for n, v in checkpoints.variable_map(net).items()})
    assert ours == listed


@pytest.mark.parametrize(
    "model_class,folder",
    [
        (DecomNet, "decom_net_train"),
        (IllumAdjustNet, "illumination_adjust_net_train"),
        (RestorationNet, "restoration_random_seeded"),
    ],
)
def test_tf1_checkpoint_loads_every_variable_exactly(reference_checkpoint, model_class, folder):
    model = model_class()
    assert checkpoints.is_tf1_checkpoint(tf.train.load_checkpoint(reference_checkpoint(folder)))
    checkpoints.load_weights(model, reference_checkpoint(folder))
    stored = _reference_tensors(reference_checkpoint(folder))
    for name, variable in checkpoints.variable_map(model).items():
        np.testing.assert_array_equal(variable.numpy(), stored[name])


def _assert_weights_equal(model, tensors):
    """`model`'s weights are `tensors` ({TF1 name: array}), every one of them."""
    names = checkpoints.variable_map(model)
    assert names.keys() == tensors.keys()
    for name, variable in names.items():
        np.testing.assert_array_equal(variable.numpy(), tensors[name], err_msg=name)


def test_prefix_and_folder_both_accepted(reference_checkpoint):
    folder = reference_checkpoint("illumination_adjust_net_train")
    prefix = os.path.join(folder, "model.ckpt")
    assert checkpoints.checkpoint_prefix(folder) == prefix
    stored = _reference_tensors(folder)
    for path in (prefix, folder):
        model = IllumAdjustNet()
        assert checkpoints.load_weights(model, path) == prefix
        _assert_weights_equal(model, stored)


def test_own_format_round_trip_gives_identical_outputs(tmp_path):
    model = IllumAdjustNet()
    inputs = [np.random.default_rng(0).random((1, 21, 13, 1), np.float32), np.full((1, 21, 13, 1), 3.0, np.float32)]
    prefix = checkpoints.save_weights(model, str(tmp_path / "illumination_adjust_net_train"))
    restored = IllumAdjustNet()
    assert checkpoints.load_weights(restored, str(tmp_path / "illumination_adjust_net_train")) == prefix
    np.testing.assert_array_equal(model(inputs), restored(inputs))
    # load_net finds it under the root by the authors' folder name.
    found = IllumAdjustNet()
    assert checkpoints.load_net(found, str(tmp_path)) == prefix
    _assert_weights_equal(found, {name: variable.numpy() for name, variable in
                                  checkpoints.variable_map(model).items()})


def test_own_format_stores_tf1_names(tmp_path):
    model = DecomNet()
    prefix = checkpoints.save_weights(model, str(tmp_path))
    keys = {name for name, _ in tf.train.list_variables(prefix)}
    assert "weights/DecomNet.Sg_up_1.Sweights/.ATTRIBUTES/VARIABLE_VALUE" in keys


def test_training_checkpoint_carries_optimizer_and_epoch(tmp_path):
    import keras

    model = IllumAdjustNet()
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)
    epoch = tf.Variable(7, dtype=tf.int64)
    manager = tf.train.CheckpointManager(
        checkpoints.training_checkpoint(model, optimizer=optimizer, epoch=epoch), str(tmp_path), 2
    )
    optimizer.iterations.assign(42)
    manager.save()
    fresh_model, fresh_epoch = IllumAdjustNet(), tf.Variable(0, dtype=tf.int64)
    fresh_optimizer = keras.optimizers.Adam(1e-4)
    fresh_optimizer.build(fresh_model.trainable_variables)
    checkpoints.training_checkpoint(
        fresh_model, optimizer=fresh_optimizer, epoch=fresh_epoch
    ).restore(manager.latest_checkpoint).assert_consumed()
    assert int(fresh_epoch) == 7 and int(fresh_optimizer.iterations) == 42
    # The same checkpoint also serves inference through load_weights.
    inference = IllumAdjustNet()
    checkpoints.load_weights(inference, str(tmp_path))
    _assert_weights_equal(inference, {name: variable.numpy() for name, variable in
                                      checkpoints.variable_map(model).items()})


def test_another_nets_checkpoint_is_named(reference_checkpoint):
    with pytest.raises(CheckpointError) as error:
        checkpoints.load_weights(RestorationNet(), reference_checkpoint("decom_net_train"))
    message = str(error.value)
    assert "decom_net_train" in message and "no Restoration_net variables" in message
    assert "DecomNet" in message


def test_missing_variable_is_named(tmp_path, reference_checkpoint):
    tensors = _reference_tensors(reference_checkpoint("illumination_adjust_net_train"))
    del tensors["Illumination_adjust_net/en_conv_3/biases"]
    prefix = _write_tf1_checkpoint(str(tmp_path / "model.ckpt"), tensors)
    with pytest.raises(CheckpointError, match=r"missing variables: Illumination_adjust_net/en_conv_3/biases$"):
        checkpoints.load_weights(IllumAdjustNet(), prefix)


def test_wrong_shape_is_named(tmp_path, reference_checkpoint):
    tensors = _reference_tensors(reference_checkpoint("illumination_adjust_net_train"))
    tensors["Illumination_adjust_net/en_conv_4/weights"] = np.zeros((3, 3, 32, 2), np.float32)
    prefix = _write_tf1_checkpoint(str(tmp_path / "model.ckpt"), tensors)
    model = IllumAdjustNet()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(CheckpointError, match=r"wrong shapes: Illumination_adjust_net/en_conv_4/weights \[3, 3, 32, 2\] != \[3, 3, 32, 1\]"):
        checkpoints.load_weights(model, prefix)
    # Nothing is half-loaded.
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint in folder .*empty"):
        checkpoints.load_weights(DecomNet(), str(tmp_path / "empty"))
    with pytest.raises(CheckpointError, match="'.*nowhere' not found"):
        checkpoints.load_weights(DecomNet(), str(tmp_path / "nowhere"))


def test_load_net_names_net_folder_and_remedy(tmp_path):
    with pytest.raises(CheckpointError) as error:
        checkpoints.load_net(RestorationNet(), str(tmp_path))
    message = str(error.value)
    assert "Restoration_net" in message
    assert os.path.join(str(tmp_path), "Restoration_net_train") in message
    assert "train_restoration.py" in message
    assert isinstance(error.value, UserError)


def test_corrupt_checkpoint_is_reported(tmp_path, reference_checkpoint):
    folder = tmp_path / "decom_net_train"
    shutil.copytree(reference_checkpoint("decom_net_train"), folder)
    (folder / "model.ckpt.index").write_bytes(b"not an index")
    with pytest.raises(CheckpointError, match="unreadable"):
        checkpoints.load_weights(DecomNet(), str(folder))
