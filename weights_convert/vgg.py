"""VGG-16/19 checkpoints of every family -> our params (:mod:`styletransfer.vgg`) -> orbax.

Three key layouts are read (:mod:`weights_convert.vgg_layouts`: torchvision's
``features.N``/``classifier.{0,3,6}``, jcjohnson's ``classifier.{1,4,6}``, Gatys'
conv-only ``convB_L``), with strict name/shape checks. The converted directory
records the weights' input convention (``preprocessing`` in ``metadata.json``,
:mod:`styletransfer.preprocessing`), so ``vgg.apply`` takes RGB [0, 1] for
every family: by default the layout's (torchvision -> torchvision; jcjohnson and
Gatys -> caffe); ``--preprocessing`` says otherwise (e.g. neural-style-pt's
renamed Caffe models, torchvision-layout keys with Caffe weights).

CLI::

    python -m weights_convert.vgg --src=vgg19-d01eb7cb.pth --out_dir=DIR \
        [--config=vgg19] [--preprocessing=caffe|torchvision]

Torch is imported lazily (only to read ``.pth`` files, via
:func:`weights_convert.torch_io.load_torch_state_dict`, ``weights_only=True``).
"""

from __future__ import annotations

import os
import pathlib

from neural_art import cli, store
from neural_art.errors import check_regular_file
from neural_art.fetch import Artifact, cache_dir, fetch, sha256_file
from styletransfer import preprocessing
from styletransfer.hub import RELEASES, load, load_converted, release_dir
from styletransfer.vggnet import CONFIGS, VGGConfig, check_params, get_config
from weights_convert import vgg_normalise
from weights_convert.torch_io import load_torch_state_dict
from weights_convert.vgg_layouts import (
    DEFAULT_PREPROCESSING,
    detect_config,
    detect_layout,
    from_state_dict,
    to_state_dict,
)


def from_torch_state_dict(cfg: VGGConfig, sd, *, source: str = "state dict") -> dict:
    """A state dict in any layout (detected) -> params; :func:`vgg_layouts.from_state_dict`."""
    return from_state_dict(cfg, sd, source=source)


def to_torch_state_dict(cfg: VGGConfig, params) -> dict:
    """Params -> a torchvision-layout state dict (tests, export)."""
    return to_state_dict(cfg, params, layout="torchvision")


def convert_torch(
    path: str | os.PathLike,
    cfg: VGGConfig | str | None = None,
    prep: preprocessing.Preprocessing | str | None = None,
) -> tuple[VGGConfig, dict]:
    """Reads a ``.pth`` safely (``weights_only=True``) in any layout and converts it.

    ``cfg`` (a config, or its name: the file's channel width) is detected from the
    file when None;
    ``prep`` (a convention or its family name) defaults to the layout's
    (:data:`DEFAULT_PREPROCESSING`). The returned config carries it."""
    sd = load_torch_state_dict(path)
    if cfg is None or isinstance(cfg, str):
        cfg = detect_config(sd, cfg and get_config(cfg).name)
    layout = detect_layout(sd)
    prep = prep or DEFAULT_PREPROCESSING[layout]
    prep = preprocessing.get(prep) if isinstance(prep, str) else prep
    params = from_state_dict(cfg, sd, layout=layout, source=str(path))
    return cfg.replace(preprocessing=prep), params


def save(
    out: str | os.PathLike,
    cfg: VGGConfig,
    params,
    *,
    source: str,
    source_sha256: str | None,
    overwrite: bool = False,
    **extra,
) -> pathlib.Path:
    """Writes ``params`` and metadata (config, head, input convention, source and
    its digest, and ``extra``) to ``out`` (:func:`neural_art.store.save_params`)."""
    check_params(cfg, params)
    meta = {
        "model": "vgg",
        "config_name": cfg.name,
        "head": "fc6" in params,
        "preprocessing": cfg.preprocessing.to_dict(),
        "source": source,
        "source_sha256": source_sha256,
        "converter": "weights_convert.vgg",
        **extra,
    }
    return store.save_params(out, params, meta, overwrite=overwrite)


def load_release(
    name: str,
    *,
    cache: str | os.PathLike | None = None,
    artifact: Artifact | None = None,
    cfg: VGGConfig | None = None,
) -> tuple[VGGConfig, dict]:
    """Release ``name`` (:data:`styletransfer.hub.RELEASES`): fetch (once, the
    first mirror that works, the file checked to convert before it is cached),
    convert (once), cache; then load.

    ``artifact`` and ``cfg`` override the download source and architecture
    (tests serve a tiny file from a local server)."""
    rel = RELEASES[name]
    cfg = (cfg or get_config(rel.config)).replace(preprocessing=rel.preprocessing)
    art = artifact or rel.artifact
    root = cache_dir(cache)
    converted = release_dir(name, root)
    if (converted / "metadata.json").exists():
        return load_converted(converted, cfg)
    done = {}

    def check(path):  # a download that does not convert never enters the cache
        done["params"] = convert_torch(path, cfg, rel.preprocessing)[1]

    pth = fetch(art, cache=root, check=check)
    params = done["params"] if done else convert_torch(pth, cfg, rel.preprocessing)[1]
    save(converted, cfg, params, source=art.url, source_sha256=sha256_file(pth), release=name)
    return cfg, params


def define_flags() -> None:
    """The CLI's flags. Defined when the CLI starts, not at import: this module is
    also a library that :func:`styletransfer.hub.load` imports inside other CLIs
    (``python -m styletransfer`` has its own ``--out_dir``)."""
    from absl import flags

    flags.DEFINE_string("src", None, "VGG .pth state dict: torchvision, jcjohnson "
                        "(classifier.1/.4/.6) or Gatys (convB_L, conv only) layout.")  # fmt: skip
    cli.define_out_dir(None, "Output directory (orbax params + metadata.json).")
    flags.DEFINE_enum("config", None, list(CONFIGS), "VGG variant (default: detected).")
    flags.DEFINE_enum("preprocessing", None, list(preprocessing.FAMILIES),
                      "The weights' input convention (default: the key layout's: torchvision "
                      "for torchvision keys, caffe for jcjohnson's and Gatys').")
    cli.define_overwrite()
    flags.DEFINE_string("normalise", None, "A folder of images (e.g. a few hundred ImageNet "
                        "photos): "
                        "write Gatys et al.'s normalised network (every conv filter's mean "
                        "activation 1 over them), conv layers only. --src may then also be a "
                        "converted directory or a release name (vgg19-caffe).")  # fmt: skip
    flags.DEFINE_integer("normalise_size", 224, "--normalise: images centre-cropped and resized "
                         "to this side.", lower_bound=32)  # fmt: skip
    cli.define_chunk_size(8, "--normalise: images per batch.")


def main(argv) -> None:
    del argv
    from absl import flags

    f = flags.FLAGS
    if not f.src:
        raise cli.UsageError("--src is required (a VGG .pth)")
    if not f.out_dir:
        raise cli.UsageError("--out_dir is required")
    cli.check_out_dir(f.out_dir)  # a file, or not creatable: before anything is read
    if os.path.exists(f.src) and not os.path.isdir(f.src):
        check_regular_file(f.src, "VGG .pth file")  # a named pipe would block the read
    if f.normalise is not None:
        return _normalise_main(f)
    if not os.path.isfile(f.src):
        raise cli.UsageError(f"--src {f.src}: no such file")
    store.check_target(f.out_dir, {"model": "vgg"}, overwrite=f.overwrite)
    cfg, params = convert_torch(f.src, f.config, f.preprocessing)
    path = save(f.out_dir, cfg, params, source=os.path.abspath(f.src),
                source_sha256=sha256_file(f.src), overwrite=f.overwrite)  # fmt: skip
    print(f"wrote {path} ({cfg.name}, head={'fc6' in params}, "
          f"preprocessing={cfg.preprocessing.name})")  # fmt: skip


def _normalise_main(f) -> None:
    """``--normalise``: every check first, then load, normalise, save."""
    if f.chunk_size < 1:
        raise cli.UsageError(f"--chunk_size={f.chunk_size}: must be >= 1 with --normalise")
    files = vgg_normalise.list_images(f.normalise)
    is_file = os.path.isfile(f.src)
    if not is_file and (f.preprocessing or f.config):
        raise cli.UsageError(f"--src={f.src}: --preprocessing/--config apply to a .pth only "
                             "(a converted directory or release records its own)")  # fmt: skip
    if not (is_file or os.path.isdir(f.src) or f.src in RELEASES):
        raise cli.UsageError(f"--src={f.src}: not a .pth, a converted directory or a release "
                             f"({', '.join(RELEASES)})")  # fmt: skip
    if os.path.isdir(f.src) and "normalised" in store.read_metadata(f.src):
        raise cli.UsageError(f"--src={f.src} is normalised already")
    if os.path.isdir(f.src) and os.path.realpath(f.src) == os.path.realpath(f.out_dir):
        raise cli.UsageError(f"--out_dir={f.out_dir} is --src: write the normalised network elsewhere")
    store.check_target(f.out_dir, {"model": "vgg"}, overwrite=f.overwrite)
    if is_file:
        cfg, params = convert_torch(f.src, f.config, f.preprocessing)
        source, digest = os.path.abspath(f.src), sha256_file(f.src)
    else:
        cfg, params = load(f.src)  # a release: downloaded and converted once
        meta = store.read_metadata(f.src if os.path.isdir(f.src) else release_dir(f.src))
        source, digest = meta.get("source", os.path.abspath(f.src)), meta.get("source_sha256")
    params, info = vgg_normalise.normalise_files(cfg, params, files, side=f.normalise_size,
                                                 chunk=f.chunk_size)  # fmt: skip
    path = save(f.out_dir, cfg, params, source=source, source_sha256=digest,
                overwrite=f.overwrite, normalised=info)  # fmt: skip
    print(f"wrote {path} ({cfg.name} normalised over {info['images']} images, "
          f"{info['dead_filters']} dead filters, preprocessing={cfg.preprocessing.name})")


def run() -> None:
    from absl import flags

    if "src" not in flags.FLAGS:  # run() may be called again in one process
        define_flags()
    cli.run(main)


if __name__ == "__main__":
    run()
