"""KinD as one Keras model: decompose, restore, adjust, and the original post-processing.

`KinD` owns the three nets of `models.py` (their names are the original variable scopes, so
the authors' TF1 checkpoints and ours load by name, `checkpoints.py`). Its `call(image,
ratio)` is the authors' `evaluate.py` per image and returns the enhanced image; `enhance`
adds what a user needs around it: the light level by rule (`Ratio`), tiling of large photos
and one compiled call. Without `denoise` the output is their `evaluate_LOLdataset.py`'s
`R_restored * L_adjusted`.
"""

import dataclasses
import math

import keras
import tensorflow as tf

from kind_tf import checkpoints, models, pipeline

# The original evaluate.py's light level.
DEFAULT_RATIO = 5.0
# evaluate_LOLdataset.py: ratio = mean(L_high / (L_low + 0.0001)).
GT_RATIO_EPSILON = 1e-4
# Ratio "auto": the ratio that brings the decomposed illumination's mean to a target level,
# estimated on the photo scaled down to fit this many px (the mean hardly changes; it keeps
# the estimate cheap and the same for tiled and untiled runs of a large photo).
AUTO_RATIO_SIZE = 1024
# Its default target: the mean decomposed illumination of well-lit photos, measured with the
# shipped DecomNet on the ground truths of the held-out our485 pairs [466:485] (never on
# eval15; pretrained/record.json "auto_target_brightness"). Another DecomNet may need another
# target.
AUTO_TARGET_BRIGHTNESS = 0.6935
# The illumination mean below which a photo counts as black (bounds the ratio).
AUTO_MIN_ILLUMINATION = 0.01


@dataclasses.dataclass(frozen=True)
class Ratio:
    """The light level given to the adjustment net, by rule.

    `rule` is a non-negative number (the original `evaluate.py` uses 5.0; higher is
    brighter), "auto" (per photo, `target_brightness / mean(L)` of its decomposed
    illumination L, floored at `AUTO_MIN_ILLUMINATION`), or "gt" (the authors' LOL protocol:
    `mean(L_high / (L_low + 1e-4))` with L_high that of the ground truth).
    """

    rule: float | str = DEFAULT_RATIO
    target_brightness: float = AUTO_TARGET_BRIGHTNESS

    def __post_init__(self):
        if isinstance(self.rule, str):
            if self.rule not in ("auto", "gt"):
                raise ValueError(f"ratio must be 'gt', 'auto' or a number, got '{self.rule}'")
        elif not (self.rule >= 0 and math.isfinite(self.rule)):
            raise ValueError(f"ratio must be a non-negative number, got {self.rule}")
        if not 0 < self.target_brightness <= 1:
            raise ValueError(f"target_brightness must be in (0, 1], got {self.target_brightness}")

    @classmethod
    def parse(cls, text, allow_gt=False, target_brightness=AUTO_TARGET_BRIGHTNESS):
        """The rule `text` spells: "auto", with `allow_gt` "gt", or a number."""
        word = text.strip().lower()
        if word == "auto" or (allow_gt and word == "gt"):
            return cls(word, target_brightness)
        try:
            rule = float(text)
        except ValueError:
            words = "'gt', 'auto'" if allow_gt else "'auto'"
            raise ValueError(f"ratio must be {words} or a number, got '{text}'") from None
        return cls(rule, target_brightness)

    @classmethod
    def of(cls, value):
        """`value` as a `Ratio`: one already, or its rule (a number, "auto" or "gt")."""
        return value if isinstance(value, cls) else cls(value)

    @property
    def setting(self):
        """The rule as metrics.json records it: a number, "auto", or None for "gt"."""
        return None if self.rule == "gt" else self.rule

    def resolve(self, model, image, ground_truth=None, illumination=None):
        """The ratio (a float) for normalized image `image` (B,H,W,3) under this rule.

        "auto" takes a batch of one; "gt" needs `ground_truth`, the normalized ground-truth
        image. `illumination`, the image's decomposed L when the caller has it, saves running
        DecomNet on the image again.
        """
        if self.rule == "auto":
            if image.shape[0] != 1:
                raise ValueError(f"ratio 'auto' takes one image at a time, got a batch of "
                                 f"{image.shape[0]}")
            mean = mean_illumination(model, image, illumination)
            return self.target_brightness / max(mean, AUTO_MIN_ILLUMINATION)
        if self.rule == "gt":
            if ground_truth is None:
                raise ValueError("ratio 'gt' needs the ground truth image")
            ground_truth = tf.convert_to_tensor(ground_truth, tf.float32)
            if illumination is None:
                illumination = _decompose(model, tf.convert_to_tensor(image, tf.float32))[1]
            return float(_gt_ratio(model, illumination, ground_truth))
        return float(self.rule)


def mean_illumination(model, image, illumination=None):
    """The mean decomposed illumination of a normalized (1,H,W,3) image, taken over the photo
    scaled down (area) to fit `AUTO_RATIO_SIZE` px: what ratio "auto" measures.
    `illumination`, the image's L when the caller has it, is used when no scaling is needed."""
    image = tf.convert_to_tensor(image, tf.float32)
    height, width = image.shape[1:3]
    scale = AUTO_RATIO_SIZE / max(height, width)
    if scale < 1:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        illumination = _decompose(model, tf.image.resize(image, size, method="area"))[1]
    elif illumination is None:
        illumination = _decompose(model, image)[1]
    return float(tf.reduce_mean(illumination))


@keras.saving.register_keras_serializable(package="kind_tf")
class KinD(keras.Model):
    """KinD: image (B,H,W,3), min-max normalized as the original `load_images` -> enhanced
    image (B,H,W,3) float32.

    `dtype` ("float32", or a Keras policy such as "mixed_bfloat16") is the nets' (their
    output heads stay float32); the post-processing runs in float32 either way. Without
    `restoration` the restoration step is left out (the paper's ablation: R_restored =
    R_decom) and no RestorationNet is built.
    """

    def __init__(self, restoration=True, dtype=None, name="kind", **kwargs):
        # The model's own policy stays float32: Keras casts a layer's inputs to its compute
        # dtype, and the post-processing (`pipeline.combine`) is the original's float32.
        super().__init__(name=name, **kwargs)
        self.decom_net = models.DecomNet(dtype=dtype)
        self.restoration_net = models.RestorationNet(dtype=dtype) if restoration else None
        self.adjust_net = models.IllumAdjustNet(dtype=dtype)
        # The nets are functional models, built with their variables; nothing else is.
        self.built = True

    @property
    def nets(self):
        """The nets this model holds (no RestorationNet without `restoration`)."""
        return [net for net in (self.decom_net, self.restoration_net, self.adjust_net) if net]

    @classmethod
    def from_checkpoint(cls, path=None, restoration=True, dtype=None):
        """KinD with its nets' weights from checkpoint root `path` (None: the shipped
        `pretrained/`).

        Each net loads from its folder under `path` (`stages.STAGES`), in the
        authors' TF1 format or ours, detected per folder; `checkpoints.CheckpointError` says
        which folder or variables do not fit.
        """
        model = cls(restoration=restoration, dtype=dtype)
        for net in model.nets:
            checkpoints.load_net(net, checkpoints.PRETRAINED_DIR if path is None else path)
        return model

    def decompose(self, image):
        """(reflectance R (B,H,W,3), illumination L (B,H,W,1)) of a normalized image."""
        return self.decom_net(image)

    def restore(self, reflectance, illumination):
        """The restored reflectance (B,H,W,3); R itself without a restoration net."""
        if self.restoration_net is None:
            return reflectance
        return self.restoration_net([reflectance, illumination])

    def adjust(self, illumination, ratio):
        """The illumination relit to light level `ratio` (a number or scalar tensor),
        given to the net as a constant ratio map, as in the original."""
        ratio = tf.cast(ratio, illumination.dtype)
        return self.adjust_net([illumination, tf.fill(tf.shape(illumination), ratio)])

    def call(self, image, ratio=DEFAULT_RATIO, denoise=True):
        """The enhanced image at light level `ratio` (a number or scalar tensor): with
        `denoise` the original post-processing, else `R_restored * L_adjusted`."""
        return pipeline.combine(image, *self._nets_outputs(image, ratio), denoise)

    def _nets_outputs(self, image, ratio):
        """(R_decom, L_decom, R_restored, L_adjusted): everything before the combination."""
        reflectance, illumination = self.decompose(image)
        return (reflectance, illumination, self.restore(reflectance, illumination),
                self.adjust(illumination, ratio))

    def enhance(self, image, ratio=DEFAULT_RATIO, denoise=True, tile=None,
                tile_margin=pipeline.TILE_MARGIN, ground_truth=None):
        """Enhances a normalized image batch (B,H,W,3) (numpy or tensor); returns a float32
        tensor.

        `ratio` is a `Ratio` or its rule (a number, "auto", "gt" with `ground_truth`);
        "auto" takes a batch of one and is resolved on the whole photo. `tile` (px, a
        multiple of 16; None: never) runs photos larger than it through the nets in tiles
        with `tile_margin` px of context (`pipeline.run_tiled`), which bounds memory and
        equals the untiled result up to float rounding; the post-processing, whose blur needs
        neighbours, runs on the whole image. One compiled call per image size and `denoise`,
        shape-generic after the second size.
        """
        image = tf.convert_to_tensor(image, tf.float32)
        if tile is not None:
            pipeline.check_tiling(tile, tile_margin)
        value = tf.constant(Ratio.of(ratio).resolve(self, image, ground_truth), tf.float32)
        if tile is None or max(image.shape[1:3]) <= tile:
            return _enhance(self, image, value, denoise)
        parts = pipeline.run_tiled(lambda window: _nets_outputs(self, window, value),
                                   image.numpy(), (3, 1, 3, 1), tile, tile_margin)
        return _combine(image, *(tf.constant(part) for part in parts), denoise)

    def enhance_variants(self, image, variants, ground_truth=None):
        """One image at several settings: ([float32 enhanced image per variant], [its ratio]).

        `variants` are (ratio, denoise) pairs, `ratio` as for `enhance`. DecomNet and
        RestorationNet run once on the image (and DecomNet once on `ground_truth` for "gt"),
        only the adjustment per ratio: what the LOL evaluation's protocol columns differ in.
        Untiled.
        """
        image = tf.convert_to_tensor(image, tf.float32)
        reflectance, illumination, restored = _decompose_and_restore(self, image)
        images, ratios = [], []
        for ratio, denoise in variants:
            value = Ratio.of(ratio).resolve(self, image, ground_truth, illumination)
            images.append(_relight(self, image, reflectance, illumination, restored,
                                   tf.constant(value, tf.float32), denoise))
            ratios.append(value)
        return images, ratios

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "restoration": self.restoration_net is not None,
                "dtype": keras.dtype_policies.serialize(self.decom_net.dtype_policy)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# Compiled calls, traced per model (an argument, as a Python object) and `denoise`.

@tf.function(reduce_retracing=True)
def _enhance(model, image, ratio, denoise):
    return model.call(image, ratio, denoise)


@tf.function(reduce_retracing=True)
def _nets_outputs(model, image, ratio):
    return model._nets_outputs(image, ratio)


@tf.function(reduce_retracing=True)
def _combine(image, decom_r, decom_i, restored_r, adjusted_i, denoise):
    return pipeline.combine(image, decom_r, decom_i, restored_r, adjusted_i, denoise)


@tf.function(reduce_retracing=True)
def _decompose(model, image):
    return model.decompose(image)


@tf.function(reduce_retracing=True)
def _decompose_and_restore(model, image):
    reflectance, illumination = model.decompose(image)
    return reflectance, illumination, model.restore(reflectance, illumination)


@tf.function(reduce_retracing=True)
def _relight(model, image, decom_r, decom_i, restored_r, ratio, denoise):
    return pipeline.combine(image, decom_r, decom_i, restored_r, model.adjust(decom_i, ratio),
                            denoise)


@tf.function(reduce_retracing=True)
def _gt_ratio(model, low_illumination, ground_truth):
    high_illumination = model.decompose(ground_truth)[1]
    return tf.reduce_mean(high_illumination / (low_illumination + GT_RATIO_EPSILON))
