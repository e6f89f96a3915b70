"""Trains KinD's decomposition net (stage 1), as the authors' decomposition_net_train.py.

Usage: python train_decom.py [--data_dir LOLdataset] [--ckpt_dir checkpoint] [--epochs N] ...
(see --help). Re-running resumes from the latest checkpoint.
"""

from absl import flags

from kind_tf import cli, stages, training

training.define_flags(default_epochs=2000)
stages.define_decom_flags()
# --help lists the shared flags with the script's own.
flags.adopt_module_key_flags(training)
flags.adopt_module_key_flags(cli)

if __name__ == "__main__":
    cli.run(training.stage_main(stages.decom_stage, stages.DECOM_ORIGINAL,
                                stages.decom_options_from_flags))
