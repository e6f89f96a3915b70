"""Trains KinD's decomposition net (stage 1), as the authors' decomposition_net_train.py:
`python -m kind_tf.train --stage decom` under the original's script name.

Usage: python train_decom.py [--data_dir LOLdataset] [--ckpt_dir checkpoint] [--epochs N] ...
(see --help). Re-running resumes from the latest checkpoint.
"""

from absl import flags

from kind_tf import cli, train

if __name__ == "__main__":
    train.define_flags("decom")
    flags.adopt_module_key_flags(train)  # --help lists them as this script's.
    cli.run(train.main)
