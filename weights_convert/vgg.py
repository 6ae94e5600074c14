"""torchvision VGG-16/19 checkpoints -> our params (:mod:`styletransfer.vgg`) -> orbax.

Source layout (``vgg16-397923af.pth``, ``vgg19-dcbb9e9d.pth``):
``features.N.{weight,bias}`` for the convs (OIHW) and
``classifier.{0,3,6}.{weight,bias}`` for fc6..fc8 (``[out, in]``). The name
table is :func:`styletransfer.vgg.torch_names`. fc6 reads the pooled
``[C, 7, 7]`` map flattened in NCHW order (c, h, w); ours flattens NHWC
(h, w, c), so its input axis is permuted. A features-only state dict (no
``classifier.*`` at all) converts to features-only params.

CLI::

    python -m weights_convert.vgg --src=vgg19-dcbb9e9d.pth --out_dir=DIR [--config=vgg19]

Torch is imported lazily (only to read ``.pth`` files, via
:func:`weights_convert.torch_io.load_torch_state_dict`, ``weights_only=True``).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from neural_art import cli, store
from neural_art.fetch import Artifact, cache_dir, fetch, sha256_file
from styletransfer.hub import load_converted, release_dir  # noqa: F401  (load_converted: re-exported)
from styletransfer.vggnet import (
    CONFIGS,
    VGGConfig,
    check_params,
    get_config,
    param_shapes,
    torch_names,
)
from weights_convert.torch_io import check_tensors, load_torch_state_dict

_TV = "https://download.pytorch.org/models/"
# torchvision names each file by the first 8 hex digits of its sha256 and does
# not publish the full digest beside it; the digests and sizes below are the
# values reported, identically, by several independent public projects that
# pin these files (e.g. lpips/metric packages and download scripts), and each
# agrees with the 8-digit prefix in its file name (:func:`_check_prefix`).
RELEASES: dict[str, Artifact] = {
    "vgg16": Artifact(
        "vgg16-397923af.pth",
        _TV + "vgg16-397923af.pth",
        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        553433881,
        "torchvision.models.VGG16_Weights.IMAGENET1K_V1; digest/size as pinned by public projects",
    ),  # fmt: skip
    "vgg19": Artifact(
        "vgg19-dcbb9e9d.pth",
        _TV + "vgg19-dcbb9e9d.pth",
        "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
        574673361,
        "torchvision.models.VGG19_Weights.IMAGENET1K_V1; digest/size as pinned by public projects",
    ),  # fmt: skip
}


def torch_shapes(cfg: VGGConfig, *, head: bool = True) -> dict[str, tuple[int, ...]]:
    """torchvision state-dict name -> shape."""
    names = torch_names(cfg)
    out = {}
    for layer, leaves in param_shapes(cfg, head=head).items():
        k = leaves["kernel"]
        w = (k[3], k[2], k[0], k[1]) if len(k) == 4 else (k[1], k[0])
        out[f"{names[layer]}.weight"] = w
        out[f"{names[layer]}.bias"] = leaves["bias"]
    return out


def detect_config(sd: dict) -> VGGConfig:
    """vgg16 or vgg19 from the number of conv weights in ``sd``."""
    n = sum(1 for k in sd if k.startswith("features.") and k.endswith(".weight"))
    for cfg in CONFIGS.values():
        if len(cfg.conv_names) == n:
            return cfg
    raise ValueError(f"{n} conv weights: not a torchvision VGG-16 (13) or VGG-19 (16) state dict")


def from_torch_state_dict(
    cfg: VGGConfig, sd: dict[str, np.ndarray], *, source: str = "state dict"
) -> dict:
    """torchvision-layout state dict (numpy) -> ``{layer: {"kernel", "bias"}}``.

    Strict both ways: every missing, unexpected or misshapen tensor is named.
    """
    head = any(k.startswith("classifier.") for k in sd)
    check_tensors(torch_shapes(cfg, head=head), sd, source=source)
    names = torch_names(cfg)
    shapes = param_shapes(cfg, head=head)
    params = {}
    for layer in shapes:
        w = np.asarray(sd[f"{names[layer]}.weight"], np.float32)
        b = np.asarray(sd[f"{names[layer]}.bias"], np.float32)
        if layer.startswith("conv"):
            k = w.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif layer == "fc6":
            c, s = cfg.widths[-1], cfg.pool_size
            # [out, c*s*s] (c, h, w order) -> [h, w, c, out] -> [(h, w, c), out]
            k = w.reshape(-1, c, s, s).transpose(2, 3, 1, 0).reshape(s * s * c, -1)
        else:
            k = w.T
        params[layer] = {"kernel": np.ascontiguousarray(k), "bias": b}
    return params


def to_torch_state_dict(cfg: VGGConfig, params) -> dict[str, np.ndarray]:
    """Inverse of :func:`from_torch_state_dict` (tests, export)."""
    names = torch_names(cfg)
    out = {}
    for layer, p in params.items():
        k = np.asarray(p["kernel"], np.float32)
        if layer.startswith("conv"):
            w = k.transpose(3, 2, 0, 1)
        elif layer == "fc6":
            c, s = cfg.widths[-1], cfg.pool_size
            w = k.reshape(s, s, c, -1).transpose(3, 2, 0, 1).reshape(k.shape[1], -1)
        else:
            w = k.T
        out[f"{names[layer]}.weight"] = np.ascontiguousarray(w)
        out[f"{names[layer]}.bias"] = np.asarray(p["bias"], np.float32)
    return out


def convert_torch(
    path: str | os.PathLike, cfg: VGGConfig | str | None = None
) -> tuple[VGGConfig, dict]:
    """Reads a torchvision ``.pth`` safely (``weights_only=True``) and converts it.

    ``cfg`` (a config or its name) is detected from the file when None."""
    sd = load_torch_state_dict(path)
    if isinstance(cfg, str):
        cfg = get_config(cfg)
    cfg = cfg or detect_config(sd)
    return cfg, from_torch_state_dict(cfg, sd, source=str(path))


def save(
    out: str | os.PathLike,
    cfg: VGGConfig,
    params,
    *,
    source: str,
    source_sha256: str | None,
    overwrite: bool = False,
) -> pathlib.Path:
    check_params(cfg, params)
    meta = {
        "model": "vgg",
        "config_name": cfg.name,
        "head": "fc6" in params,
        "source": source,
        "source_sha256": source_sha256,
        "converter": "weights_convert.vgg",
    }
    return store.save_params(out, params, meta, overwrite=overwrite)


def _check_prefix(art: Artifact, path: pathlib.Path, digest: str) -> None:
    stem = art.filename.rsplit(".", 1)[0]
    prefix = stem.rsplit("-", 1)[-1]
    if not digest.startswith(prefix):
        raise ValueError(
            f"{path}: sha256 {digest} does not start with {prefix}, the digest prefix "
            f"torchvision puts in the file name; delete it and download {art.url} again"
        )


def load_release(
    name: str,
    *,
    cache: str | os.PathLike | None = None,
    artifact: Artifact | None = None,
    cfg: VGGConfig | None = None,
) -> tuple[VGGConfig, dict]:
    """torchvision release ``name``: fetch (once), convert (once), cache; then load.

    ``artifact`` and ``cfg`` override the download source and architecture
    (tests serve a tiny file from a local server)."""
    cfg = cfg or get_config(name)
    art = artifact or RELEASES[name]
    root = cache_dir(cache)
    converted = release_dir(name, root)
    if (converted / "metadata.json").exists():
        return load_converted(converted, cfg)
    pth = fetch(art, cache=root)
    digest = sha256_file(pth)
    if artifact is None:
        _check_prefix(art, pth, digest)
    cfg, params = convert_torch(pth, cfg)
    save(converted, cfg, params, source=art.url, source_sha256=digest)
    return cfg, params


def define_flags() -> None:
    """The CLI's flags. Defined when the CLI starts, not at import: this module is
    also a library that :func:`styletransfer.hub.load` imports inside other CLIs
    (``python -m styletransfer`` has its own ``--out_dir``)."""
    from absl import flags

    flags.DEFINE_string("src", None, "torchvision VGG .pth state dict.")
    cli.define_out_dir(None, "Output directory (orbax params + metadata.json).")
    flags.DEFINE_enum("config", None, list(CONFIGS), "VGG variant (default: detected).")
    cli.define_overwrite()


def main(argv) -> None:
    del argv
    from absl import flags

    f = flags.FLAGS
    if not f.src:
        raise cli.UsageError("--src is required (a torchvision VGG .pth)")
    if not f.out_dir:
        raise cli.UsageError("--out_dir is required")
    if not os.path.isfile(f.src):
        raise cli.UsageError(f"--src {f.src}: no such file")
    if os.path.exists(f.out_dir) and not os.path.isdir(f.out_dir):
        raise cli.UsageError(f"--out_dir {f.out_dir} exists and is not a directory")
    store.check_target(f.out_dir, {"model": "vgg"}, overwrite=f.overwrite)
    cfg, params = convert_torch(f.src, f.config)
    path = save(f.out_dir, cfg, params, source=os.path.abspath(f.src),
                source_sha256=sha256_file(f.src), overwrite=f.overwrite)  # fmt: skip
    print(f"wrote {path} ({cfg.name}, head={'fc6' in params})")


def run() -> None:
    from absl import flags

    if "src" not in flags.FLAGS:  # run() may be called again in one process
        define_flags()
    cli.run(main)


if __name__ == "__main__":
    run()
