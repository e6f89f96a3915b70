"""Checkpoint I/O: the authors' TF1 checkpoints and the project's own, matched by variable name.

Every model variable has one name, the one the original TF1 graph gives it:
`<model.name>/<layer.name>/weights` for a kernel and `.../biases` for a bias (see
`variable_map`). The authors' checkpoints store exactly these names; the project's own
checkpoints (`tf.train.Checkpoint`, written by `training_checkpoint`) store the variables under
the same names, next to the optimizer state and the epoch. Loading either is therefore one
name-and-shape check followed by assignments, with no position tables.

Folders follow the authors' layout under one root, so `--ckpt` can point at either kind:
`checkpoint/decom_net_train/`, `checkpoint/Restoration_net_train/`,
`checkpoint/illumination_adjust_net_train/`.
"""

import os
import re

import numpy as np
import tensorflow as tf

from kind_tf.errors import UserError

# The shipped weights of the three nets (float32, this format; see pretrained/README.md).
PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "pretrained")

# Keras weight name -> TF1 (tf-slim) variable name.
_TF1_SUFFIX = {"kernel": "weights", "bias": "biases"}

# tf.train.Checkpoint stores the dict `weights` of `training_checkpoint` under these keys.
_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_OWN_PREFIX = "weights/"
_OWN_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, unreadable or does not fit the model."""


def variable_map(model):
    """{TF1 variable name: model variable} for every weight of `model`."""
    names = {}
    for layer in model.layers:
        for weight in layer.weights:
            names[f"{model.name}/{layer.name}/{_TF1_SUFFIX[weight.name]}"] = weight
    return names


def net_folder(root, model):
    """The folder under checkpoint root `root` that holds `model`'s checkpoint."""
    return os.path.join(root, _stage(model).folder)


def _stage(model):
    # The stage registry names the folders; it imports this module, hence imported here.
    from kind_tf import stages

    return stages.of_net(model)


def checkpoint_prefix(path):
    """Resolves a checkpoint folder (with a `checkpoint` state file) or prefix to a prefix."""
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None or not tf.io.gfile.exists(prefix + ".index"):
            raise CheckpointError(
                f"no checkpoint in folder '{path}' (expected a 'checkpoint' file and "
                "model.ckpt.index/.data files)"
            )
        return prefix
    if tf.io.gfile.exists(path + ".index"):
        return path
    raise CheckpointError(f"checkpoint '{path}' not found (neither a folder nor a prefix)")


def _unescape(name):
    # tf.train.Checkpoint escapes '/' in dict keys as '.S' and '.' as '..'.
    return re.sub(r"\.([.S])", lambda match: "." if match.group(1) == "." else "/", name)


def is_tf1_checkpoint(reader):
    """True for a name-based TF1 checkpoint, False for an object-based (kind_tf) one."""
    return _OBJECT_GRAPH_KEY not in reader.get_variable_to_shape_map()


def _stored_variables(reader):
    """{TF1 variable name: checkpoint key} of a TF1 or a kind_tf checkpoint."""
    keys = reader.get_variable_to_shape_map()
    if is_tf1_checkpoint(reader):
        return {key: key for key in keys}
    return {
        _unescape(key[len(_OWN_PREFIX) : -len(_OWN_SUFFIX)]): key
        for key in keys
        if key.startswith(_OWN_PREFIX) and key.endswith(_OWN_SUFFIX)
    }


def _check_fits(model, prefix, stored, reader):
    expected = variable_map(model)
    missing = sorted(name for name in expected if name not in stored)
    shape_map = reader.get_variable_to_shape_map()
    wrong_shape = [
        f"{name} {shape_map[stored[name]]} != {list(variable.shape)}"
        for name, variable in expected.items()
        if name in stored and list(shape_map[stored[name]]) != list(variable.shape)
    ]
    if not missing and not wrong_shape:
        return
    problems = []
    if missing:
        if len(missing) == len(expected):
            scopes = sorted({name.split("/")[0] for name in stored if "/" in name})
            problems.append(
                f"it holds no {model.name} variables (its scopes: {', '.join(scopes) or 'none'}; "
                "another net's checkpoint?)"
            )
        else:
            problems.append(f"missing variables: {', '.join(missing)}")
    if wrong_shape:
        problems.append(f"wrong shapes: {', '.join(wrong_shape)}")
    raise CheckpointError(f"checkpoint '{prefix}' does not fit {model.name}: {'; '.join(problems)}")


def load_weights(model, path):
    """Loads `model`'s weights from a TF1 (authors') or kind_tf checkpoint folder or prefix.

    The format is detected from the checkpoint itself. Raises `CheckpointError` naming the
    checkpoint and the offending variables when it does not fit the model. Returns the prefix.
    """
    prefix = checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        stored = _stored_variables(reader)
    except (tf.errors.OpError, ValueError) as error:
        raise CheckpointError(f"checkpoint '{prefix}' is unreadable: {error}") from error
    _check_fits(model, prefix, stored, reader)
    for name, variable in variable_map(model).items():
        variable.assign(np.asarray(reader.get_tensor(stored[name]), dtype=variable.dtype))
    return prefix


def load_net(model, root):
    """Loads `model` from its folder under checkpoint root `root` (see `net_folder`)."""
    folder = net_folder(root, model)
    if not os.path.isdir(folder):
        raise CheckpointError(
            f"no {model.name} checkpoint: folder '{folder}' not found; train it with "
            f"{_stage(model).script}, put the authors' pre-trained weights "
            "(links in github.com/zhangyhuaee/KinD) there, or use the shipped weights: "
            f"--ckpt {os.path.relpath(PRETRAINED_DIR)}/"
        )
    return load_weights(model, folder)


def training_checkpoint(model, **state):
    """A `tf.train.Checkpoint` of `model`'s variables under their TF1 names, plus `state`.

    `state` holds trackables to save with the weights (optimizer, epoch counter, ...). Use it
    with `tf.train.CheckpointManager`, which writes the new files first and switches the
    `checkpoint` state file last, so a killed save never becomes the latest checkpoint.
    """
    return tf.train.Checkpoint(weights=variable_map(model), **state)


def save_weights(model, directory, max_to_keep=3):
    """Saves `model`'s weights as a kind_tf checkpoint in `directory`; returns the prefix."""
    manager = tf.train.CheckpointManager(
        training_checkpoint(model), directory, max_to_keep=max_to_keep, checkpoint_name="model.ckpt"
    )
    return manager.save()
