"""Data-parallel training set-up: TF_CONFIG checked, the chief writes the run's files."""

import types

import pytest
import tensorflow as tf

from kind_tf import distribution
from kind_tf.errors import UserError


@pytest.mark.parametrize("value, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("", "needs the TF_CONFIG environment variable"),
    ("{not json", "is not a cluster"),
    ('{"cluster": {"worker": ["a:1"]}}', "no 'task'"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "no 'chief'"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}',
     "task index 2 of 2 worker"),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "task type 'ps'"),
])
def test_tf_config_is_checked_with_one_line_saying_what_to_set(value, message):
    with pytest.raises(UserError, match=message) as error:
        distribution.check_tf_config(value)
    assert "\n" not in str(error.value) and "TF_CONFIG='{\"cluster\"" in str(error.value)


def test_tf_config_of_a_two_host_cluster_passes():
    distribution.check_tf_config(distribution.TF_CONFIG_EXAMPLE)
    distribution.check_tf_config('{"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, '
                                 '"task": {"type": "worker", "index": 0}}')


@pytest.mark.parametrize("cluster, task, chief", [
    ({"worker": ["a:1", "b:1"]}, ("worker", 0), True),
    ({"worker": ["a:1", "b:1"]}, ("worker", 1), False),
    ({"chief": ["a:1"], "worker": ["b:1"]}, ("chief", 0), True),
    ({"chief": ["a:1"], "worker": ["b:1"]}, ("worker", 0), False),
])
def test_the_chief_writes_the_run_files(cluster, task, chief):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task[0], task_id=task[1])
    strategy = types.SimpleNamespace(cluster_resolver=resolver)
    assert distribution.multi_worker(strategy) and distribution.is_chief(strategy) == chief
    assert distribution.is_chief(tf.distribute.get_strategy())


def test_default_strategy_is_one_device():
    assert distribution.distribution_strategy("default").num_replicas_in_sync == 1
