"""KinD: train_decom (placeholder until its issue lands)."""

from absl import flags

from kind_tf import cli

FLAGS = flags.FLAGS


def main(argv):
    del argv
    print("train_decom.py: not implemented yet")


if __name__ == "__main__":
    cli.run(main)
