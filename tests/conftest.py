"""Shared test fixtures: paths to the reference material in ../shared (skipped when absent,
except in CI, where it must be there)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO_ROOT), "shared")
REFERENCE = os.path.join(SHARED, "kind_reference")
LOL = os.path.join(SHARED, "LOLdataset")
# Photos with published MATLAB NIQE values (docs/no_reference.md says where they come from):
# ../shared/niqe_reference, or the folder named by KIND_NIQE_REFERENCE.
NIQE_REFERENCE = os.environ.get("KIND_NIQE_REFERENCE", os.path.join(SHARED, "niqe_reference"))


def skimage_ssim(image, reference, channel_axis=-1):
    """scikit-image's SSIM with the Wang et al. settings: the independent check of ours."""
    from skimage.metrics import structural_similarity

    return structural_similarity(
        image, reference, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255, channel_axis=channel_axis,
    )


def stored_images(store, normalize=True):
    """Every image of an in-memory `ImageStore`, read through its public rows (`variable`,
    `offsets`, `sizes`): as the patches see them (uint8 levels normalized by their `ranges`),
    or as stored with `normalize` False."""
    from kind_tf import image_store

    rows = store.variable.numpy()
    images = []
    for index, ((height, width), start) in enumerate(zip(store.sizes, store.offsets)):
        image = rows[start:start + height * width].reshape(height, width, store.channels)
        if normalize and store.ranges is not None:
            image = image_store.normalized(image, store.ranges[index][None, None]).numpy()
        images.append(image)
    return images


def _require(path, what):
    if not os.path.isdir(path):
        message = f"{what} not found at {path} (it lives in ../shared beside the checkout)"
        # CI always has ../shared: there a missing or moved folder fails the run instead of
        # passing it with skips.
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so it must be there")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def reference_dir():
    """`../shared/kind_reference`: the authors' checkpoints, test images and golden outputs."""
    return _require(REFERENCE, "KinD reference data")


@pytest.fixture(scope="session")
def golden(reference_dir):
    """Loads `golden/<name>.npz` from the reference data."""
    import numpy as np

    return lambda name: np.load(os.path.join(reference_dir, "golden", f"{name}.npz"))


@pytest.fixture(scope="session")
def reference_checkpoint(reference_dir):
    """Path of one of the reference checkpoint folders, by folder name."""
    return lambda folder: os.path.join(reference_dir, "checkpoint", folder)


@pytest.fixture(scope="session")
def lol_dir():
    """`../shared/LOLdataset`: eval15 and a 41-pair subset of our485."""
    return _require(LOL, "LOL dataset")


@pytest.fixture(scope="session")
def niqe_reference_dir():
    """Photos whose MATLAB NIQE is published: BasicSR's baboon.png, pyiqa's I03-I19.bmp.

    Not part of ../shared (nor committable here), so CI has them only if its machine does:
    they skip, even in CI, when absent."""
    if not os.path.isdir(NIQE_REFERENCE):
        pytest.skip(f"NIQE reference photos not found at {NIQE_REFERENCE} (docs/no_reference.md, "
                    "'Validation', says where they come from; or set KIND_NIQE_REFERENCE)")
    return NIQE_REFERENCE


@pytest.fixture(scope="session")
def reference_ckpt_root(reference_dir, tmp_path_factory):
    """A checkpoint root in the layout the scripts read (`stages.STAGES`): the
    authors' decom and adjust weights and the seeded random restoration weights, linked."""
    root = tmp_path_factory.mktemp("reference_ckpt")
    for folder, source in (
        ("decom_net_train", "decom_net_train"),
        ("Restoration_net_train", "restoration_random_seeded"),
        ("illumination_adjust_net_train", "illumination_adjust_net_train"),
    ):
        os.symlink(os.path.join(reference_dir, "checkpoint", source), root / folder)
    return str(root)


@pytest.fixture(scope="session")
def reference_model(reference_ckpt_root):
    """`KinD` (fp32) with the weights of `reference_ckpt_root`."""
    from kind_tf import KinD

    return KinD.from_checkpoint(reference_ckpt_root)


@pytest.fixture(scope="session")
def reference_nets(reference_model):
    """(decom, restoration, adjust): the nets of `reference_model`."""
    return tuple(reference_model.nets)


def make_tiny_lol(root, lol_dir, train_pairs, eval_pairs):
    """A LOL-layout folder of `train_pairs` / `eval_pairs` 96x64 crops of real LOL pairs."""
    from PIL import Image

    for split, count in (("our485", train_pairs), ("eval15", eval_pairs)):
        names = sorted(os.listdir(os.path.join(lol_dir, split, "low")))[:count]
        for side in ("low", "high"):
            os.makedirs(root / split / side)
            for name in names:
                with Image.open(os.path.join(lol_dir, split, side, name)) as image:
                    image.crop((250, 150, 346, 214)).save(root / split / side / name)
    return root
