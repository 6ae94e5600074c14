"""A sweep's curation files, shared by the BigGAN and DCGAN sweeps (issue 13):
``scores.json`` (seed -> scores, :mod:`neural_art.scores`), thumbnails and
``index.html`` (:mod:`neural_art.gallery`), and weight-space walk outputs
(PNG frames + animated GIF, MP4 when imageio + ffmpeg are importable, per-frame
scores, ``walks.json``, a gallery of walks).

:class:`Scorer` scores networks' images against θ*'s (one jitted, vmapped
:func:`neural_art.scores.all_scores`, the JPEG ratio and an optional user score,
:func:`neural_art.scores.load_score`). :class:`Curator` is fed each chunk's
images as they come off the device; it scores them, writes each seed's
thumbnail once and rewrites the page. :func:`write_walks` does the same for walks.
"""

from __future__ import annotations

import json
import logging
import math
import pathlib
from collections.abc import Callable, Sequence

import jax
import numpy as np

from neural_art import atomic, cli, gallery, lineage, scores
from neural_art.images import save_image, to_uint8


def check_hook(spec: str, weights: str) -> None:
    """The CLIs' check of ``--score_with`` / ``--score_weights`` (:func:`neural_art.scores.load_score`;
    a mistake is a usage error), before any compute; a factory loads its weights here."""
    if spec or weights:
        try:
            scores.load_score(spec, weights)
        except ValueError as e:
            raise cli.UsageError(str(e)) from None


class Scorer:
    """Every score of some networks' images: ``score_with`` / ``score_weights`` as the
    CLIs' ``--score_with`` / ``--score_weights`` (empty: the built-in scores only)."""

    def __init__(self, score_with: str = "", score_weights: str = ""):
        self.user = scores.load_score(score_with, score_weights) if score_with else None
        self._all = jax.jit(jax.vmap(scores.all_scores, in_axes=(0, None)))

    def __call__(self, images: np.ndarray, reference: np.ndarray) -> list[dict[str, float]]:
        """``images [n, L, H, W, 3]`` (n networks), ``reference [L, H, W, 3]`` (θ*'s
        images of the same latents), both in [-1, 1] -> one ``{name: score}`` each."""
        got = jax.device_get(self._all(images, reference))
        out = []
        for i, imgs in enumerate(images):
            sc = {k: float(v[i]) for k, v in got.items()}
            sc["jpeg_ratio"] = float(np.mean([scores.jpeg_ratio(u) for u in to_uint8(imgs)]))
            if self.user is not None:
                sc[self.user.name] = float(np.asarray(self.user(imgs, reference)))
            out.append(finite_scores(sc))
        return out


def finite_scores(sc: dict[str, float]) -> dict[str, float | None]:
    """``sc`` with each non-finite score (NaN, ±inf: a hook's failure) recorded as
    None, JSON null, with a warning naming it: ``scores.json`` stays strict JSON
    and the gallery shows "n/a" for it."""
    bad = sorted(k for k, v in sc.items() if not math.isfinite(v))
    if bad:
        logging.warning("non-finite score(s) %s recorded as null (n/a in the gallery): %s", bad,
                        {k: sc[k] for k in bad})  # fmt: skip
    return gallery.finite_or_none(sc)


class Curator:
    """Scores + gallery of one sweep directory.

    Args:
      out: the sweep's directory. original: θ*'s images ``[L, H, W, 3]`` in [-1, 1].
      files: ``seed -> list of image paths`` (seed None: θ*).
      command: ``seed -> regenerate command``. score_with, score_weights: :class:`Scorer`.
      breed: the breed command's prefix for the page (:func:`neural_art.gallery.write`;
        empty: no breeding there).
    """

    def __init__(self, out, *, title: str, settings: dict, row_labels: Sequence[str],
                 original: np.ndarray, files: Callable, command: Callable,
                 score_with: str = "", score_weights: str = "", enabled: bool = True,
                 breed: str = ""):  # fmt: skip
        self.out, self.title, self.settings, self.breed = pathlib.Path(out), title, settings, breed
        self.row_labels, self.files, self.command, self.enabled = list(row_labels), files, command, enabled
        self.original = np.asarray(original, np.float32)
        self.scorer = Scorer(score_with, score_weights)
        self.path = self.out / "scores.json"
        self.scores: dict[str, dict] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.thumb(None, self.original)

    def thumb(self, seed, images) -> str:
        name = lineage.dir_name(seed)
        return gallery.thumbnail(self.out, name, list(to_uint8(images))) if self.enabled else ""

    def add(self, seeds: Sequence[int], images: np.ndarray) -> None:
        """Scores and thumbnails of one chunk: ``images [n, L, H, W, 3]`` in [-1, 1]."""
        if not len(seeds):
            return
        for s, sc, imgs in zip(seeds, self.scorer(images, self.original), images, strict=True):
            self.scores[str(s)] = sc
            self.thumb(s, imgs)
        atomic.write_json(self.path, self.scores)

    def write(self, seeds: Sequence[int], *, running: bool) -> pathlib.Path | None:
        """Rewrites ``index.html`` listing θ* and ``seeds`` (those with scores), each
        with its lineage: the networks it was bred from, its children among ``seeds``."""
        if not self.enabled:
            return None
        seeds = [s for s in seeds if str(s) in self.scores]
        kids = lineage.children(seeds)
        nets = [self.network(None)] + [{**self.network(s), "parents": lineage.parents(s),
                                        "children": kids[str(s)]} for s in seeds]  # fmt: skip
        return gallery.write(self.out, title=self.title, settings=self.settings, networks=nets,
                             row_labels=self.row_labels, running=running, breed=self.breed)  # fmt: skip

    def network(self, seed) -> dict:
        rel = [pathlib.Path(p).relative_to(self.out).as_posix() for p in self.files(seed)]
        return {"seed": seed, "thumb": self.thumb(seed, self.original) if seed is None else
                f"thumbs/{lineage.dir_name(seed)}.jpg", "images": rel,
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


def write_walks(out_dir, walks: Sequence, render: Callable, *, ts, reference: np.ndarray,
                scorer: Scorer, settings: dict, title: str, command: Callable,
                enabled: bool = True) -> dict:  # fmt: skip
    """Every walk's files (:func:`write_walk`), per-frame scores, ``walks.json`` and,
    with ``enabled``, ``index.html`` (one entry per walk, its scores its last frame's).

    Args:
      walks: :class:`neural_art.walk.Walk` s. render: ``walk -> [F, L, H, W, 3]`` in
        [-1, 1] at ``ts`` (one walk in memory at a time). reference: θ*'s images
        ``[L, H, W, 3]`` (the scores' departure). command: ``walk -> regenerate command``.
    Returns the manifest written to ``walks.json``: ``settings``, ``frames``, ``t`` and
    ``walks``: ``name -> {label, frames, gif[, mp4], scores (one per frame), command}``.
    """
    out = pathlib.Path(out_dir)
    rel = lambda p: pathlib.Path(p).relative_to(out).as_posix()
    done, nets = {}, []
    manifest = {"settings": settings, "frames": len(ts), "t": [float(t) for t in ts], "walks": done}
    for w in walks:
        imgs = np.asarray(render(w), np.float32)
        files = write_walk(out, w.name, imgs)
        done[w.name] = {"label": w.label, "frames": [rel(p) for p in files["frames"]],
                        **{k: rel(v) for k, v in files.items() if k != "frames"},
                        "scores": scorer(imgs, reference), "command": command(w)}  # fmt: skip
        strips = to_uint8(np.concatenate(list(np.moveaxis(imgs, 1, 0)), axis=2))
        nets.append({"seed": w.label, "thumb": gallery.thumbnail(out, w.name, [strips[0], strips[-1]]),
                     "images": [done[w.name]["gif"], *done[w.name]["frames"]],
                     "scores": done[w.name]["scores"][-1], "command": command(w)})  # fmt: skip
        atomic.write_json(out / "walks.json", manifest)  # after every walk: finished ones are listed
    if enabled:
        gallery.write(out, title=title, settings=settings, networks=nets,
                      row_labels=["animation"] + [f"t={float(t):.2f}" for t in ts])  # fmt: skip
    return manifest
