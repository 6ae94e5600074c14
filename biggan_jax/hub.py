"""Loading BigGAN-deep weights by name, by path, or at random.

``load("biggan-deep-256")`` downloads the Hugging Face release of
``pytorch_pretrained_biggan`` once (``.bin`` + ``config.json``) into the cache
(``$NEURAL_ART_JAX_CACHE`` or ``~/.cache/neural-art-jax``), verifies size and
sha256, converts it with :mod:`weights_convert.biggan` (needs torch, the
``convert`` extra, once) and caches the converted orbax params; later loads
read only the converted params and need neither network nor torch.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import jax

from biggan_jax.configs import BigGANConfig, get_config
from neural_art.fetch import Artifact, cache_dir, fetch

_HF = "https://s3.amazonaws.com/models.huggingface.co/biggan/"
# sha256/size of the 256 files: from a public install manifest that pins them
# (CatalogVersion bundle-b-2026-08-07); not re-verified here (no network). The
# 128/512 digests are not published alongside the files: the first download's
# digest is recorded in the cache and enforced afterwards.
_PINNED = {
    "biggan-deep-256-pytorch_model.bin": (
        "5900ef4065047e3aa0d1b66197b7f2664dceb59b27080e414ad57e203c485bc5",
        234411737,
    ),
    "biggan-deep-256-config.json": (
        "edd106f65ff28ee1638491a978cfa6bc50dfa0344aab70749a7b8eb08bbec677",
        715,
    ),
}


@dataclasses.dataclass(frozen=True)
class Release:
    weights: Artifact
    config: Artifact


def _release(name: str) -> Release:
    arts = []
    for suffix in ("pytorch_model.bin", "config.json"):
        fn = f"{name}-{suffix}"
        sha, size = _PINNED.get(fn, (None, None))
        arts.append(Artifact(fn, _HF + fn, sha, size, "install manifest" if sha else ""))
    return Release(*arts)


RELEASES: dict[str, Release] = {
    n: _release(n) for n in ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")
}


def _from_converted(path: pathlib.Path):
    from neural_art.store import load_params
    from weights_convert.biggan import read_hf_config  # noqa: F401  (no torch needed)

    params, meta = load_params(path)
    cfg = BigGANConfig.from_hf_dict(meta["config"], name=meta.get("config_name", "custom"))
    return cfg, params


def load(name_or_path: str | os.PathLike, *, cache: str | os.PathLike | None = None, seed: int = 0):
    """Returns ``(cfg, params)``.

    Args:
      name_or_path: one of

        * a release name, ``biggan-deep-128`` / ``-256`` / ``-512``: download,
          verify, convert and cache (once);
        * a directory written by ``python -m weights_convert.biggan`` (orbax
          params + ``metadata.json``);
        * a ``pytorch_model.bin`` (with ``config.json`` beside it) or a directory
          holding both: converted on the fly (needs torch);
        * ``random:<release name>``: random weights of that architecture
          (:func:`biggan_jax.init_params` with ``seed``), for smoke tests.
      cache: cache directory (default ``$NEURAL_ART_JAX_CACHE`` or
        ``~/.cache/neural-art-jax``).
    """
    s = os.fspath(name_or_path)
    if s.startswith("random:") or s == "random":
        from biggan_jax.model import init_params

        cfg = get_config(s.split(":", 1)[1] if ":" in s else "biggan-deep-256")
        return cfg, init_params(cfg, jax.random.key(seed))
    if s in RELEASES:
        return _load_release(s, RELEASES[s], cache)
    p = pathlib.Path(s)
    if p.is_dir() and (p / "metadata.json").exists():
        return _from_converted(p)
    if p.is_dir() and (p / "pytorch_model.bin").exists():
        p = p / "pytorch_model.bin"
    if p.is_file():
        from weights_convert.biggan import convert_torch, read_hf_config

        cands = [
            p.with_name("config.json"),
            p.with_name(p.name.replace("pytorch_model.bin", "config.json")),
        ]
        cfg_file = next((c for c in cands if c.exists()), None)
        if cfg_file is None:
            raise FileNotFoundError(
                f"{p}: no config.json beside it (looked for {[str(c) for c in cands]})"
            )
        cfg = read_hf_config(cfg_file)
        return cfg, convert_torch(p, cfg)
    raise ValueError(
        f"cannot load BigGAN weights from {s!r}: not a release name ({', '.join(RELEASES)}), "
        "not 'random:<name>', and no such file or directory"
    )


def _load_release(name: str, rel: Release, cache):
    root = cache_dir(cache)
    converted = root / f"{name}-flax"
    if (converted / "metadata.json").exists():
        return _from_converted(converted)
    bin_path = fetch(rel.weights, cache=root)
    cfg_path = fetch(rel.config, cache=root)
    from neural_art.fetch import sha256_file
    from weights_convert import biggan as conv

    cfg = conv.read_hf_config(cfg_path, name=name)
    params = conv.convert_torch(bin_path, cfg)
    conv.save(converted, cfg, params, source=rel.weights.url, source_sha256=sha256_file(bin_path))
    return cfg, params
