"""DCGAN input pipeline: the seed's resize rule, art folders (corrupt files), mnist via mock_data."""

import math

import ml_collections
import numpy as np
import pytest
from PIL import Image

from dcgan import input_pipeline as ip

pytest.importorskip("tensorflow_datasets", reason="input pipeline needs tensorflow-datasets")


@pytest.mark.parametrize(
    "w,h", [(512, 512), (600, 400), (451, 300), (100, 90), (2000, 70), (128, 128)]
)
def test_seed_size_is_smallest_with_enough_pixels(w, h):
    nw, nh = ip.seed_size(w, h, 128 * 128, min_side=1)
    assert nw * nh >= 128 * 128
    assert abs(nw / nh - w / h) / (w / h) < 0.05  # aspect ratio kept
    # one pixel smaller along both sides (same aspect) would be too small
    assert (nw - 1) * (nh - 1) < 128 * 128 or min(nw, nh) == 1
    assert nw * nh < 128 * 128 * 1.1 or min(w, h) < 10


def test_seed_size_min_side_for_patches():
    nw, nh = ip.seed_size(2000, 70, 128 * 128, min_side=64)
    assert min(nw, nh) >= 64


def _make_folder(root, n_good=5, corrupt=True):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    sizes = [(200, 150), (150, 200), (300, 300), (90, 120), (256, 100)]
    for i in range(n_good):
        w, h = sizes[i % len(sizes)]
        a = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        ext = ".png" if i % 2 else ".jpg"
        (root / f"sub{i % 2}").mkdir(exist_ok=True)
        Image.fromarray(a).save(root / f"sub{i % 2}" / f"img{i}{ext}")
    if corrupt:
        (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
        (root / "empty.png").write_bytes(b"")
    (root / "notes.txt").write_text("ignored: not an image extension")
    return root


def test_folder_dataset_skips_and_counts_corrupt_files(tmp_path):
    folder = _make_folder(tmp_path / "art")
    prep = ip.prepare_folder(folder, tmp_path / "tfds")
    assert prep.num_examples == 5
    assert sorted(s["file"].rsplit("/", 1)[-1] for s in prep.skipped) == ["broken.jpg", "empty.png"]
    # stored the seed's way: >= 128*128 pixels, aspect kept
    for ex in prep.builder.as_dataset(split="train").as_numpy_iterator():
        h, w, _ = ex["image"].shape
        assert h * w >= 128 * 128 and min(h, w) >= 64
    # prepared once; a second call reuses it and still reports the skips
    again = ip.prepare_folder(folder, tmp_path / "tfds")
    assert again.num_examples == 5 and len(again.skipped) == 2


def test_folder_without_readable_images_raises(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="no readable images"):
        ip.prepare_folder(folder, tmp_path / "tfds")


def _cfg(**kw):
    return ml_collections.ConfigDict(
        dict(
            source="folder",
            folder="",
            seed=0,
            min_pixels=128 * 128,
            shuffle_buffer=1000,
            min_epoch_examples=16,
        )
        | kw
    )


def test_patches_deterministic_and_resumable(tmp_path):
    folder = _make_folder(tmp_path / "art", corrupt=False)
    cfg = _cfg(folder=str(folder))
    kw = dict(batch_size=4, resolution=32, nc=3, data_dir=str(tmp_path / "tfds"))
    it, info = ip.train_batches(cfg, **kw)
    assert info["num_examples"] == 5 and info["steps_per_epoch"] == 5  # 5 imgs * 4 repeats / 4
    batches = [next(it) for _ in range(12)]  # crosses two epoch boundaries
    b = batches[0]
    assert b.shape == (4, 32, 32, 3) and b.dtype == np.float32
    assert -1.0 <= b.min() and b.max() <= 1.0
    # random patches: the same image appears with different crops across epochs
    assert not np.array_equal(batches[0], batches[5])
    # a fresh pipeline started at step n yields batch n exactly (exact resume)
    for n in (3, 5, 7):
        it2, _ = ip.train_batches(cfg, start_step=n, **kw)
        np.testing.assert_array_equal(next(it2), batches[n])
        np.testing.assert_array_equal(next(it2), batches[n + 1])
    # different data seed -> different stream
    it3, _ = ip.train_batches(_cfg(folder=str(folder), seed=1), **kw)
    assert not np.array_equal(next(it3), batches[0])


def test_greyscale_folder(tmp_path):
    folder = _make_folder(tmp_path / "art", n_good=2, corrupt=False)
    it, _ = ip.train_batches(
        _cfg(folder=str(folder)), batch_size=2, resolution=16, nc=1, data_dir=str(tmp_path / "t")
    )
    assert next(it).shape == (2, 16, 16, 1)


def test_mnist_mock_resized_to_model_resolution():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=40):
        it, info = ip.train_batches(_cfg(source="mnist"), batch_size=8, resolution=64, nc=1)
        b = next(it)
    assert info["source"] == "mnist"
    assert b.shape == (8, 64, 64, 1)
    assert -1.0 <= b.min() and b.max() <= 1.0


def test_skimage_export(tmp_path):
    pytest.importorskip("skimage", reason="needs scikit-image")
    paths = ip.export_skimage(tmp_path, names=("brick", "coffee"))
    ims = [np.asarray(Image.open(p)) for p in paths]
    assert all(a.ndim == 3 and a.shape[-1] == 3 for a in ims)


def test_unknown_source():
    with pytest.raises(ValueError, match="unknown data source"):
        ip.train_batches(_cfg(source="imagenet"), batch_size=2, resolution=16, nc=3)


def test_seed_size_math():
    assert ip.seed_size(128, 128) == (128, 128)
    w, h = ip.seed_size(1000, 500)
    assert w * h >= 16384 and math.isclose(w / h, 2, rel_tol=0.02)
