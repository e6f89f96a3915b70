"""Trains KinD's illumination adjustment net (stage 3), as the authors'
adjustment_net_train.py.

Usage: python train_adjustment.py [--data_dir LOLdataset] [--ckpt_dir checkpoint] [--epochs N] ...
(see --help). Re-running resumes from the latest checkpoint.
"""

from absl import flags

from kind_tf import cli, stages, training

training.define_flags(default_epochs=2000)
# --help lists the shared flags with the script's own.
flags.adopt_module_key_flags(training)
flags.adopt_module_key_flags(cli)

if __name__ == "__main__":
    cli.run(training.stage_main(stages.adjustment_stage, stages.ADJUSTMENT_ORIGINAL))
