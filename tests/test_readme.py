"""The README's Python examples, run as written: each ```python block is executed, in order of
appearance, in a folder holding what the README's prose says is there (`photo.jpg`, the
authors' checkpoint folders under `checkpoint/`, `kind.tflite`)."""

import os
import re
import shutil

import pytest

from conftest import REPO_ROOT

README = os.path.join(REPO_ROOT, "README.md")


def python_blocks():
    with open(README) as file:
        return re.findall(r"^```python\n(.*?)^```$", file.read(), re.DOTALL | re.MULTILINE)


def block_ids():
    # Named by their first import line, so a failure says which example broke.
    return [next(line for line in block.splitlines() if "import" in line)
            for block in python_blocks()]


def test_readme_has_the_examples():
    blocks = python_blocks()
    assert len(blocks) == 3
    assert all("KinD" in block for block in blocks[:2])
    assert "load_tflite" in blocks[2]


@pytest.fixture(scope="module")
def readme_folder(reference_dir, reference_ckpt_root, tmp_path_factory):
    """A working folder as the README's examples expect it."""
    folder = tmp_path_factory.mktemp("readme")
    # One of the original repository's low-light test photos, a JPEG as in the README.
    shutil.copy(os.path.join(reference_dir, "test_images", "04.JPG"), folder / "photo.jpg")
    # The authors' decom and adjust checkpoints (and seeded restoration weights).
    os.symlink(reference_ckpt_root, folder / "checkpoint")
    return folder


def run_block(block, folder, monkeypatch):
    monkeypatch.chdir(folder)
    exec(compile(block, f"README.md python block in {folder}", "exec"), {})


@pytest.mark.parametrize("index", [0, 1], ids=block_ids()[:2])
def test_example_runs(index, readme_folder, monkeypatch):
    run_block(python_blocks()[index], readme_folder, monkeypatch)
    if index == 1:
        assert (readme_folder / "photo_kindle.png").exists()
        assert (readme_folder / "kind.keras").exists()


@pytest.mark.slow
def test_tflite_example_runs(readme_folder, monkeypatch):
    pytest.importorskip("ai_edge_litert", reason="the LiteRT interpreter: pip install "
                        "ai-edge-litert (requirements-dev.txt)")
    from kind_tf import KinD, export

    # What the README's `python -m kind_tf.export --format tflite --out kind.tflite` writes.
    export.export_tflite(KinD.from_checkpoint(), str(readme_folder / "kind.tflite"))
    run_block(python_blocks()[2], readme_folder, monkeypatch)
