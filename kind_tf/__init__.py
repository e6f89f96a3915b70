"""kind_tf: a faithful TensorFlow 2 / Keras 3 port of KinD (Zhang, Zhang & Guo, ACM MM 2019)."""

import os

# Keep TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) off the console.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kind_tf.kind import KinD, Ratio  # noqa: E402 - after the log level, which TF reads on import

__all__ = ["KinD", "Ratio"]
