"""Loading BigGAN-deep weights: the one ``--weights`` grammar of :mod:`neural_art.hub`.

``load("biggan-deep-256")`` downloads the Hugging Face release of
``pytorch_pretrained_biggan`` once (``.bin`` + ``config.json``) into the cache
(``$NEURAL_ART_JAX_CACHE`` or ``~/.cache/neural-art-jax``), verifies size and
sha256, converts it with :mod:`weights_convert.biggan` (needs torch, the
``convert`` extra, once) and caches the converted orbax params; later loads
read only the converted params and need neither network nor torch.

:func:`config_for` and :func:`provenance` read the same spec without loading
weights, so the sweep CLI checks everything before any compute.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import jax

from biggan_jax.configs import CONFIGS, BigGANConfig, get_config, read_config
from neural_art import hub as grammar
from neural_art import store
from neural_art.fetch import Artifact, cache_dir, fetch, sha256_file

DEFAULT_CONFIG = "biggan-deep-256"
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


# Mirrors on the Hugging Face hub, tried after the S3 file: name -> repository.
_HUB_MIRRORS = {
    "biggan-deep-128": "https://huggingface.co/osanseviero/BigGAN-deep-128/resolve/main/",
}


def _release(name: str) -> Release:
    arts = []
    for suffix in ("pytorch_model.bin", "config.json"):
        fn = f"{name}-{suffix}"
        sha, size = _PINNED.get(fn, (None, None))
        mirrors = (_HUB_MIRRORS[name] + suffix,) if name in _HUB_MIRRORS else ()
        arts.append(Artifact(fn, _HF + fn, sha, size, "install manifest" if sha else "", mirrors))
    return Release(*arts)


RELEASES: dict[str, Release] = {
    n: _release(n) for n in ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")
}


def parse(spec: str | os.PathLike | grammar.WeightsSpec) -> grammar.WeightsSpec:
    """``spec`` read by the shared grammar; a directory holding a raw
    ``pytorch_model.bin`` (and no ``metadata.json``) counts as that file."""
    if isinstance(spec, grammar.WeightsSpec):
        return spec
    ws = grammar.parse(spec, releases=RELEASES, configs=CONFIGS, default_config=DEFAULT_CONFIG)
    if ws.kind == "dir" and not (ws.path / "metadata.json").exists():
        if (ws.path / "pytorch_model.bin").exists():
            return grammar.WeightsSpec("file", path=ws.path / "pytorch_model.bin")
        raise grammar.WeightsSpecError(
            f"{ws.path}: neither converted weights (metadata.json) nor a pytorch_model.bin"
        )
    if ws.kind == "file" and not _is_checkpoint(ws.path):
        raise grammar.WeightsSpecError(f"{ws.path}: not a PyTorch checkpoint (pytorch_model.bin)")
    return ws


def _is_checkpoint(path: pathlib.Path) -> bool:
    """A torch.save file: a zip archive, or a legacy pickle (protocol 2+)."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def find_config(bin_path: str | os.PathLike) -> pathlib.Path:
    """The ``config.json`` beside a raw ``.bin``: ``config.json``, or the release's
    ``<name>-config.json`` beside ``<name>-pytorch_model.bin``."""
    p = pathlib.Path(bin_path)
    cands = [p.with_name("config.json")]
    if "pytorch_model.bin" in p.name:
        cands.append(p.with_name(p.name.replace("pytorch_model.bin", "config.json")))
    found = next((c for c in cands if c.exists()), None)
    if found is None:
        raise FileNotFoundError(f"{p}: no config.json beside it (looked for {', '.join(map(str, cands))})")
    return found


def config_for(spec: str | os.PathLike | grammar.WeightsSpec) -> BigGANConfig | None:
    """The architecture ``spec`` names, without loading weights (``None``: a
    release not converted yet whose name is no known config)."""
    ws = parse(spec)
    if ws.kind == "random":
        cfg = get_config(ws.name)
        return cfg.replace(channel_width=ws.width) if ws.width else cfg
    if ws.kind == "release":
        return CONFIGS.get(ws.name)
    if ws.kind == "dir":
        meta = store.read_metadata(ws.path, "biggan-deep")
        return BigGANConfig.from_hf_dict(meta["config"], name=meta.get("config_name", "custom"))
    return read_config(find_config(ws.path))


def provenance(spec: str | os.PathLike) -> dict:
    """What a manifest records about the weights: the spec, the source's sha256
    (and URL for a release); ``None`` for random weights."""
    ws = parse(spec)
    info = {"weights": os.fspath(spec), "weights_sha256": None}
    if ws.kind == "release":
        rel = RELEASES[ws.name]
        info.update(weights_sha256=rel.weights.sha256, weights_url=rel.weights.url)
    elif ws.kind == "dir":
        info["weights_sha256"] = store.read_metadata(ws.path, "biggan-deep").get("source_sha256")
    elif ws.kind == "file":
        info["weights_sha256"] = sha256_file(ws.path)
    return info


def load(spec: str | os.PathLike, *, cache: str | os.PathLike | None = None, seed: int = 0):
    """Returns ``(cfg, params)``.

    Args:
      spec: one of

        * a release name, ``biggan-deep-128`` / ``-256`` / ``-512``: download,
          verify, convert and cache (once);
        * a directory written by ``python -m weights_convert.biggan`` (orbax
          params + ``metadata.json``);
        * a ``pytorch_model.bin`` (with ``config.json`` beside it) or a directory
          holding both: converted on the fly (needs torch);
        * ``random[:<config>[:<channel_width>]]``: random weights of that
          architecture (:func:`biggan_jax.init_params` with ``seed``), e.g.
          ``random:biggan-deep-128:8`` for smoke tests.
      cache: cache directory (default ``$NEURAL_ART_JAX_CACHE`` or
        ``~/.cache/neural-art-jax``).
      seed: ``random`` only: the init key.
    """
    ws = parse(spec)
    if ws.kind == "random":
        from biggan_jax.model import init_params

        cfg = config_for(ws)
        return cfg, init_params(cfg, jax.random.key(seed))
    if ws.kind == "release":
        return _load_release(ws.name, RELEASES[ws.name], cache)
    if ws.kind == "dir":
        return _from_converted(ws.path)
    from weights_convert.biggan import convert_torch

    cfg = config_for(ws)
    return cfg, convert_torch(ws.path, cfg)


def _from_converted(path: pathlib.Path):
    params, meta = store.load_params(path, "biggan-deep")
    return BigGANConfig.from_hf_dict(meta["config"], name=meta.get("config_name", "custom")), params


def _load_release(name: str, rel: Release, cache):
    root = cache_dir(cache)
    converted = root / f"{name}-flax"
    if (converted / "metadata.json").exists():
        return _from_converted(converted)
    bin_path = fetch(rel.weights, cache=root)
    cfg_path = fetch(rel.config, cache=root)
    from weights_convert import biggan as conv

    cfg = read_config(cfg_path, name=name)
    params = conv.convert_torch(bin_path, cfg)
    conv.save(converted, cfg, params, source=rel.weights.url, source_sha256=sha256_file(bin_path))
    return cfg, params
