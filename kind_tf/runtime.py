"""Device set-up shared by every entry point: fp32 numerics, GPU memory growth."""

import tensorflow as tf


def configure(allow_tf32=False):
    """Sets up TensorFlow for KinD and returns a description of the device it will use.

    TensorFlow enables TF32 matmuls/convolutions by default on Ampere and newer NVIDIA GPUs,
    which moves outputs far beyond the 1e-5 agreement with the original; it stays off unless
    `allow_tf32`. GPUs get memory growth so that several tools can share one card. Call this
    before any op runs.
    """
    tf.config.experimental.enable_tensor_float_32_execution(allow_tf32)
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # Already initialized by an earlier call: growth is set or fixed.
            pass
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    name = details.get("device_name", gpus[0].name)
    return f"GPU ({name}{', TF32 allowed' if allow_tf32 else ', fp32'})"
