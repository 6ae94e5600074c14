"""neural_art.fetch against a local HTTP server on 127.0.0.1: truncated bodies,
failed loads and corrupt cache entries never poison the cache."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from neural_art import fetch

BODY = bytes(range(256)) * 4096  # 1 MiB


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "good"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY if self.mode == "good" else BODY[: len(BODY) // 3])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    # a short poll: shutdown() waits for it (0.5 s per test at the default)
    t = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("pinned", [True, False])
def test_truncated_download_then_good_server(server, tmp_path, pinned):
    url = f"http://127.0.0.1:{server.server_address[1]}/w.bin"
    art = fetch.Artifact("w.bin", url, sha256=hashlib.sha256(BODY).hexdigest() if pinned else None)
    _Handler.mode = "truncated"
    with pytest.raises(fetch.WeightsUnavailableError, match="truncated download"):
        fetch.fetch(art, cache=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing kept, no digest
    _Handler.mode = "good"
    path = fetch.fetch(art, cache=tmp_path, progress=False)
    assert path.read_bytes() == BODY
    assert (tmp_path / "w.bin.sha256").exists() == (not pinned)
    assert fetch.fetch(art, cache=tmp_path, progress=False) == path  # cached, verified


def test_a_download_that_fails_to_load_is_not_recorded(server, tmp_path):
    url = f"http://127.0.0.1:{server.server_address[1]}/w.bin"
    art = fetch.Artifact("w.bin", url)
    _Handler.mode = "good"

    def bad(p):
        raise ValueError("not a checkpoint")

    with pytest.raises(fetch.WeightsUnavailableError, match="does not load: not a checkpoint"):
        fetch.fetch(art, cache=tmp_path, progress=False, check=bad)
    assert list(tmp_path.iterdir()) == []
    assert fetch.fetch(art, cache=tmp_path, progress=False, check=lambda p: None).exists()


def test_corrupt_cached_file_names_the_file_and_forget_clears_it(server, tmp_path):
    url = f"http://127.0.0.1:{server.server_address[1]}/w.bin"
    art = fetch.Artifact("w.bin", url)
    _Handler.mode = "good"
    path = fetch.fetch(art, cache=tmp_path, progress=False)
    path.write_bytes(b"garbage")
    with pytest.raises(fetch.WeightsUnavailableError, match=f"cached file {path} is corrupt.*Delete it"):
        fetch.fetch(art, cache=tmp_path, progress=False)
    fetch.forget(art, cache=tmp_path)
    assert fetch.fetch(art, cache=tmp_path, progress=False).read_bytes() == BODY


def test_offline_says_what_to_download_and_where(tmp_path):
    art = fetch.Artifact("w.bin", "http://127.0.0.1:9/w.bin")
    with pytest.raises(fetch.WeightsUnavailableError, match=f"put it at {tmp_path / 'w.bin'}"):
        fetch.fetch(art, cache=tmp_path, progress=False)


def test_mirrors_tried_in_order_and_first_use_digest_enforced(server, tmp_path):
    """First mirror down -> the second is used; a mirror with a truncated body is
    refused and the next tried; the digest recorded on first use (with its URL)
    is enforced on the cached file afterwards; when every mirror fails, each URL
    is named."""
    port = server.server_address[1]
    _Handler.mode = "good"
    art = fetch.Artifact("w.bin", "http://127.0.0.1:9/down.bin",
                         mirrors=(f"http://127.0.0.1:{port}/w.bin",))  # fmt: skip
    path = fetch.fetch(art, cache=tmp_path, progress=False)
    assert path.read_bytes() == BODY
    digest = hashlib.sha256(BODY).hexdigest()
    assert (tmp_path / "w.bin.sha256").read_text().split() == [digest, art.mirrors[0]]
    path.write_bytes(BODY[:-1] + b"x")  # same size, other bytes
    with pytest.raises(fetch.WeightsUnavailableError, match=f"does not match the expected {digest} "
                       f"for {art.mirrors[0]}"):  # fmt: skip
        fetch.fetch(art, cache=tmp_path, progress=False)
    fetch.forget(art, cache=tmp_path)
    _Handler.mode = "truncated"
    with pytest.raises(fetch.WeightsUnavailableError) as e:
        fetch.fetch(art, cache=tmp_path, progress=False)
    msg = str(e.value)
    assert "every mirror failed" in msg and "127.0.0.1:9/down.bin" in msg
    assert "truncated download" in msg and art.mirrors[0] in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_digest_prefix_in_each_mirrors_file_name(server, tmp_path):
    port = server.server_address[1]
    _Handler.mode = "good"
    good = hashlib.sha256(BODY).hexdigest()[:8]
    wrong = f"http://127.0.0.1:{port}/w-00000000.bin"
    art = fetch.Artifact("w.bin", wrong, mirrors=(f"http://127.0.0.1:{port}/w-{good}.bin",),
                         digest_in_name=True)  # fmt: skip
    path = fetch.fetch(art, cache=tmp_path, progress=False)  # the first is refused, the second kept
    assert (tmp_path / "w.bin.sha256").read_text().split()[1] == art.mirrors[0]
    assert fetch.fetch(art, cache=tmp_path, progress=False) == path
    fetch.forget(art, cache=tmp_path)
    with pytest.raises(fetch.WeightsUnavailableError, match="does not start with 00000000"):
        only_wrong = fetch.Artifact("w.bin", wrong, digest_in_name=True)
        fetch.fetch(only_wrong, cache=tmp_path, progress=False)


def test_biggan_deep_128_lists_the_hugging_face_hub_copy_after_s3():
    from biggan_jax.hub import RELEASES

    rel = RELEASES["biggan-deep-128"]
    for art, name in ((rel.weights, "pytorch_model.bin"), (rel.config, "config.json")):
        assert art.url.startswith("https://s3.amazonaws.com/") and art.sha256 is None
        hub_url = f"https://huggingface.co/osanseviero/BigGAN-deep-128/resolve/main/{name}"
        assert art.mirrors == (hub_url,)
