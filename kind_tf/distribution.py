"""Data-parallel training: the distribution strategy of `--strategy` and who writes the run.

`default` trains on one device, `mirrored` over the local GPUs (or CPUs), `multi_worker` over
the hosts of the TF_CONFIG cluster, each cutting the same global batches (see `training`).
"""

import functools
import json
import os

import tensorflow as tf

from kind_tf.errors import UserError

STRATEGIES = ("default", "mirrored", "multi_worker")

TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


def check_tf_config(value):
    """Raises a `UserError` unless `value`, the TF_CONFIG environment variable, names a
    cluster and this process's task in it (a chief or a worker; --strategy multi_worker)."""
    example = f"e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}' on the first host, index 1 on the second"
    if not value:
        raise UserError("--strategy multi_worker needs the TF_CONFIG environment variable "
                        f"set to the cluster and this host's task in it, {example}")
    try:
        config = json.loads(value)
        task_type, index = config["task"]["type"], config["task"]["index"]
        hosts = config["cluster"][task_type]
        if task_type not in ("chief", "worker"):
            raise ValueError(f"task type '{task_type}': chief and worker tasks train")
        if not (isinstance(index, int) and 0 <= index < len(hosts)):
            raise ValueError(f"task index {index} of {len(hosts)} {task_type} host(s)")
    except (ValueError, KeyError, TypeError) as error:
        reason = f"no {error}" if isinstance(error, KeyError) else error
        raise UserError(f"TF_CONFIG '{' '.join(value.split())}' is not a cluster with this "
                        f"host's task in it ({reason}): set it as {example}") from None


@functools.cache
def distribution_strategy(name):
    """The distribution strategy of `--strategy`.

    mirrored: over all local GPUs, else all CPUs. multi_worker: over the cluster of TF_CONFIG
    (each host's GPUs, else its CPU). Made once per process: MultiWorkerMirroredStrategy sets
    up collective ops, which fails once any op has run ("Collective ops must be configured at
    program startup"), so `training.run` makes it before building the stage and `train` gets
    the same one.
    """
    if name == "multi_worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name != "mirrored":
        return tf.distribute.get_strategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


def multi_worker(strategy):
    """Whether `strategy` spans a cluster of processes (--strategy multi_worker)."""
    return strategy.cluster_resolver is not None and strategy.cluster_resolver.task_type is not None


def is_chief(strategy):
    """Whether this process writes the run's files: always, except under --strategy
    multi_worker, where the chief does (task type chief, else worker 0)."""
    if not multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    if "chief" in resolver.cluster_spec().jobs:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0
