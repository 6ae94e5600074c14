"""pytorch-fid's FID Inception weights -> our params (:mod:`dcgan.inception`) -> orbax.

Source: ``pt_inception-2015-12-05-6726825d.pth``, pytorch-fid's port of the
TensorFlow FID graph ``inception-2015-12-05`` (the file
``pytorch_fid.inception.FID_WEIGHTS_URL`` names). Its names are torchvision's
``Inception3`` with ``aux_logits=False`` and a 1008-way ``fc``:
``Mixed_6b.branch7x7_2.conv.weight`` (OIHW) -> ``Mixed_6b/branch7x7_2/conv/kernel``
(HWIO); ``*.bn.{weight,bias,running_mean,running_var}`` -> ``*/bn/{scale,bias,
mean,var}``. ``fc.*`` (not part of the pool3 feature network) and
``num_batches_tracked`` are ignored; everything else is checked strictly.

CLI::

    python -m weights_convert.inception --src=pt_inception-2015-12-05-6726825d.pth --out_dir=DIR

Torch is imported lazily (to read ``.pth`` files, ``weights_only=True``).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from dcgan.inception import param_shapes
from dcgan.hub import fid_converted_dir as converted_dir
from neural_art import cli, store
from neural_art.fetch import Artifact, cache_dir, fetch, sha256_file
from weights_convert.torch_io import check_tensors, load_torch_state_dict

# pytorch-fid publishes no digest beside the file: the sha256 of the first
# download that converts is recorded and enforced afterwards (neural_art.fetch).
RELEASE = Artifact(
    "pt_inception-2015-12-05-6726825d.pth",
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth",
    source="pytorch_fid.inception.FID_WEIGHTS_URL (pytorch-fid 0.3.0); digest recorded on first use",
)
IGNORED = ("num_batches_tracked", "fc.weight", "fc.bias")
_LEAF = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean",
         "var": "running_var"}  # fmt: skip


def _leaves(tree, prefix=()):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _leaves(v, (*prefix, k))
        else:
            yield (*prefix, k), v


def torch_name(path: tuple[str, ...]) -> str:
    """``("Mixed_5b", "branch1x1", "bn", "mean")`` -> ``Mixed_5b.branch1x1.bn.running_mean``."""
    return ".".join((*path[:-1], _LEAF[path[-1]]))


def torch_shapes() -> dict[str, tuple[int, ...]]:
    """pytorch-fid state-dict name -> shape (without ``fc``)."""
    out = {}
    for path, shape in _leaves(param_shapes()):
        out[torch_name(path)] = (shape[3], shape[2], shape[0], shape[1]) if len(shape) == 4 else shape
    return out


def from_torch_state_dict(sd: dict[str, np.ndarray], *, source: str = "state dict") -> dict:
    """pytorch-fid state dict (numpy) -> nested params; strict both ways."""
    check_tensors(torch_shapes(), sd, source=source, ignore_unexpected=IGNORED)
    params: dict = {}
    for path, shape in _leaves(param_shapes()):
        a = np.asarray(sd[torch_name(path)], np.float32)
        if len(shape) == 4:
            a = a.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        node = params
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = np.ascontiguousarray(a)
    return params


def convert_torch(path: str | os.PathLike) -> dict:
    """Reads a ``.pth`` safely and converts it."""
    return from_torch_state_dict(load_torch_state_dict(path), source=os.fspath(path))


def save(out: str | os.PathLike, params: dict, *, source: str, source_sha256: str,
         overwrite: bool = False) -> pathlib.Path:  # fmt: skip
    meta = {"model": "fid-inception", "source": source, "source_sha256": source_sha256,
            "converter": "weights_convert.inception"}  # fmt: skip
    return store.save_params(out, params, meta, overwrite=overwrite)


def release_dir(cache: str | os.PathLike | None = None) -> pathlib.Path:
    return converted_dir(cache)


def load_release(*, cache: str | os.PathLike | None = None,
                 artifact: Artifact | None = None) -> dict:  # fmt: skip
    """The release's params: fetched once (digest recorded on first use; a file
    that does not convert never enters the cache), converted once, then read
    from the cache. ``artifact`` overrides the source (tests: a local server)."""
    art = artifact or RELEASE
    root = cache_dir(cache)
    converted = release_dir(root)
    if (converted / "metadata.json").exists():
        return store.load_params(converted, "fid-inception")[0]
    done = {}

    def check(path):
        done["params"] = convert_torch(path)

    pth = fetch(art, cache=root, check=check)
    params = done["params"] if done else convert_torch(pth)
    save(converted, params, source=art.url, source_sha256=sha256_file(pth))
    return params


def main(argv):
    from absl import flags

    del argv
    src, out = flags.FLAGS.src, flags.FLAGS.out_dir
    if not src or not out:
        raise cli.UsageError("--src and --out_dir are required")
    if not os.path.isfile(src):
        raise cli.UsageError(f"--src={src}: no such file")
    out = cli.check_out_dir(out)
    store.check_target(out, {"model": "fid-inception"}, overwrite=flags.FLAGS.overwrite)
    print(save(out, convert_torch(src), source=os.path.abspath(src), source_sha256=sha256_file(src),
               overwrite=flags.FLAGS.overwrite))  # fmt: skip


def run() -> None:
    from absl import flags

    flags.DEFINE_string("src", None, "pytorch-fid pt_inception-2015-12-05-6726825d.pth.")
    cli.define_out_dir(None, "Output directory (orbax params + metadata.json).")
    cli.define_overwrite()
    cli.run(main)


if __name__ == "__main__":
    run()
