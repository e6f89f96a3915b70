"""Shared test fixtures: paths to the reference material in ../shared (skipped when absent)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO_ROOT), "shared")
REFERENCE = os.path.join(SHARED, "kind_reference")
LOL = os.path.join(SHARED, "LOLdataset")


def _require(path, what):
    if not os.path.isdir(path):
        pytest.skip(f"{what} not found at {path} (it lives in ../shared beside the checkout)")
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
