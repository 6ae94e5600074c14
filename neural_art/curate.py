"""A sweep's curation files, shared by the BigGAN and DCGAN sweeps (issue 13):
``scores.json`` (seed -> scores, :mod:`neural_art.scores`), thumbnails and
``index.html`` (:mod:`neural_art.gallery`), and weight-space walk outputs
(PNG frames + animated GIF, MP4 when imageio + ffmpeg are importable).

:class:`Curator` is fed each chunk's images as they come off the device; it
scores them (one jitted, vmapped :func:`neural_art.scores.all_scores` against
the unperturbed images, plus the JPEG ratio and an optional user score), writes
each seed's thumbnail once and rewrites the page.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Sequence

import jax
import numpy as np

from neural_art import atomic, gallery, scores
from neural_art.images import save_image, to_uint8


class Curator:
    """Scores + gallery of one sweep directory.

    Args:
      out: the sweep's directory. original: θ*'s images ``[L, H, W, 3]`` in [-1, 1].
      files: ``seed -> list of image paths`` (seed None: θ*).
      command: ``seed -> regenerate command``. score_with: ``"module:function"`` or "".
    """

    def __init__(self, out, *, title: str, settings: dict, row_labels: Sequence[str],
                 original: np.ndarray, files: Callable, command: Callable,
                 score_with: str = "", enabled: bool = True):  # fmt: skip
        self.out, self.title, self.settings = pathlib.Path(out), title, settings
        self.row_labels, self.files, self.command, self.enabled = list(row_labels), files, command, enabled
        self.original = np.asarray(original, np.float32)
        self.user = scores.load_score_fn(score_with) if score_with else None
        self.path = self.out / "scores.json"
        self.scores: dict[str, dict] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self._all = jax.jit(jax.vmap(scores.all_scores, in_axes=(0, None)))
        self.thumb(None, self.original)

    def thumb(self, seed, images) -> str:
        name = "original" if seed is None else f"seed_{seed:06d}"
        return gallery.thumbnail(self.out, name, list(to_uint8(images))) if self.enabled else ""

    def add(self, seeds: Sequence[int], images: np.ndarray) -> None:
        """Scores and thumbnails of one chunk: ``images [n, L, H, W, 3]`` in [-1, 1]."""
        if not len(seeds):
            return
        got = jax.device_get(self._all(images, self.original))
        for i, s in enumerate(seeds):
            sc = {k: float(v[i]) for k, v in got.items()}
            sc["jpeg_ratio"] = float(np.mean([scores.jpeg_ratio(u) for u in to_uint8(images[i])]))
            if self.user is not None:
                sc[self.user[0]] = float(np.asarray(self.user[1](images[i])))
            self.scores[str(s)] = sc
            self.thumb(s, images[i])
        atomic.write_json(self.path, self.scores)

    def write(self, seeds: Sequence[int], *, running: bool) -> pathlib.Path | None:
        """Rewrites ``index.html`` listing θ* and ``seeds`` (those with scores)."""
        if not self.enabled:
            return None
        nets = [self.network(None)] + [self.network(s) for s in seeds if str(s) in self.scores]
        return gallery.write(self.out, title=self.title, settings=self.settings, networks=nets,
                             row_labels=self.row_labels, running=running)  # fmt: skip

    def network(self, seed) -> dict:
        rel = [pathlib.Path(p).relative_to(self.out).as_posix() for p in self.files(seed)]
        return {"seed": seed, "thumb": self.thumb(seed, self.original) if seed is None else
                f"thumbs/seed_{seed:06d}.jpg", "images": rel,
                "scores": {} if seed is None else self.scores[str(seed)],
                "command": self.command(seed)}  # fmt: skip


def write_walk(out_dir, name: str, frames: np.ndarray, *, fps: float = 8.0) -> dict:
    """One walk's files under ``<out_dir>/walks/<name>/``: ``frame_000.png`` ... (each
    frame's rows side by side), ``walk.gif`` and, if imageio + ffmpeg work, ``walk.mp4``.
    ``frames``: ``[F, L, H, W, 3]`` in [-1, 1]. Returns ``{"frames": paths, "gif": path}``."""
    d = pathlib.Path(out_dir) / "walks" / name
    strips = to_uint8(np.concatenate(list(np.moveaxis(np.asarray(frames), 1, 0)), axis=2))  # [F, H, L·W, 3]
    paths = [save_image(d / f"frame_{f:03d}.png", s) for f, s in enumerate(strips)]
    from PIL import Image

    pil = [Image.fromarray(s) for s in strips]
    gif = d / "walk.gif"
    with atomic.atomic_path(gif) as tmp:
        pil[0].save(tmp, format="GIF", save_all=True, append_images=pil[1:],
                    duration=round(1000 / fps), loop=0)  # fmt: skip
    out = {"frames": paths, "gif": gif}
    try:
        import imageio.v2 as imageio

        imageio.mimwrite(d / "walk.mp4", list(strips), fps=fps)
        out["mp4"] = d / "walk.mp4"
    except Exception:  # imageio or its ffmpeg plugin absent: GIF only
        (d / "walk.mp4").unlink(missing_ok=True)
    return out
