"""Trains KinD's illumination adjustment net (stage 3), as the authors' adjustment_net_train.py:
`python -m kind_tf.train --stage adjust` under the original's script name.

Usage: python train_adjustment.py [--data_dir LOLdataset] [--ckpt_dir checkpoint] [--epochs N] ...
(see --help). Re-running resumes from the latest checkpoint.
"""

from absl import flags

from kind_tf import cli, train

if __name__ == "__main__":
    train.define_flags("adjust")
    flags.adopt_module_key_flags(train)  # --help lists them as this script's.
    cli.run(train.main)
