"""neural_art.images / atomic: oversized inputs refused before decoding; writers
are atomic with unique temp names (two writers of one path never collide)."""

import os
import threading

import numpy as np
import pytest
from PIL import Image

from neural_art import atomic, images


def test_oversized_images_refused_from_the_header(tmp_path):
    Image.new("L", (3000, 3000)).save(tmp_path / "big.png")
    with pytest.raises(images.ImageError, match="9,000,000 pixels, more than the 1,000,000"):
        images.load_image(tmp_path / "big.png", max_pixels=1_000_000)
    assert images.load_image(tmp_path / "big.png", size=16).shape == (16, 16, 3)


def test_two_writers_of_one_path_and_a_failed_write(tmp_path):
    target = tmp_path / "a" / "img.png"
    imgs = [np.full((64, 64, 3), v, np.uint8) for v in (10, 200)]
    ts = [threading.Thread(target=images.save_image, args=(target, im)) for im in imgs * 8]
    [t.start() for t in ts]
    [t.join() for t in ts]
    got = np.asarray(Image.open(target))
    assert any(np.array_equal(got, im) for im in imgs)  # one whole image, never a mix
    assert os.listdir(target.parent) == ["img.png"]  # no temp file left
    with pytest.raises(ZeroDivisionError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise ZeroDivisionError
    assert os.listdir(target.parent) == ["img.png"] and np.array_equal(np.asarray(Image.open(target)), got)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        got = atomic.write_text(tmp_path / "a" / "f.json", "{}").stat().st_mode & 0o777
    finally:
        os.umask(old)
    assert got == mode


def test_16_bit_and_float_images_are_scaled_by_their_types_range(tmp_path):
    Image.fromarray(np.full((4, 4), 16384, np.uint16)).save(tmp_path / "dark16.png")
    Image.fromarray(np.full((4, 4), 0.25, np.float32), mode="F").save(tmp_path / "quarter.tif")
    for name, want in (("dark16.png", 16384 / 65535), ("quarter.tif", 0.25)):
        got = images.load_image(tmp_path / name)
        assert got.shape == (4, 4, 3) and abs(float(got.mean()) - want) < 1 / 255, (name, got.mean())


def test_a_named_pipe_is_refused_not_read(tmp_path):
    fifo = tmp_path / "content.png"
    os.mkfifo(fifo)
    got = []

    def load():
        try:
            images.load_image(fifo)
        except images.ImageError as e:
            got.append(str(e))

    t = threading.Thread(target=load, daemon=True)  # daemon: a regression blocks here, not the run
    t.start()
    t.join(timeout=30)
    assert got and "not a regular file" in got[0], "load_image blocked on a named pipe"
