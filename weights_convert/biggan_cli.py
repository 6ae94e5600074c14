"""``python -m weights_convert.biggan``: the converter's flags and checks.

    --src=biggan-deep-256-pytorch_model.bin --out_dir=DIR           (config.json beside it)
    --src=tfhub_module_dir --config=biggan-deep-256 --out_dir=DIR   (BN stats from its graph)
    --src=ckpt_prefix --bn_stats=stats.npz --config=biggan-deep-256 --out_dir=DIR
"""

from __future__ import annotations

import os

from absl import flags

from neural_art import cli, store
from neural_art.errors import check_regular_file
from weights_convert import biggan as conv

_SRC = flags.DEFINE_string(
    "src", None, "pytorch_model.bin, or a TF-Hub module dir / TF checkpoint prefix."
)
_OUT = cli.define_out_dir(None, "Output directory (orbax params + metadata.json).")
_CONFIG = flags.DEFINE_string("config", None, "Config name (biggan-deep-128/256/512) or a config.json "
                              "path. Default for .bin: the config.json beside it.")  # fmt: skip
_OVERWRITE = cli.define_overwrite()
_BN_STATS = flags.DEFINE_string("bn_stats", None, "TF-Hub only: .npz of the standing BN statistics "
                                "(default: read from the module dir's graph).")  # fmt: skip


def main(argv) -> None:
    src = _SRC.value
    if not src or not _OUT.value:
        raise cli.UsageError("--src and --out_dir are required")
    if not os.path.exists(src) and not os.path.exists(src + ".index"):
        raise cli.UsageError(f"--src={src}: no such file, directory or checkpoint prefix")
    if os.path.exists(src) and not os.path.isdir(src):
        check_regular_file(src, "--src checkpoint file")
    cli.check_out_dir(_OUT.value)  # a file, or not creatable: before anything is read
    store.check_target(_OUT.value, {"model": "biggan-deep"}, overwrite=_OVERWRITE.value)
    module = os.path.exists(os.path.join(src, "saved_model.pb"))
    if not conv.is_torch_file(src) and not _BN_STATS.value and not module:
        raise cli.UsageError(
            f"--bn_stats is needed: {src} is a checkpoint, not a TF-Hub module "
            "directory (with saved_model.pb) to read the statistics from"
        )
    conv.resolve_config(_CONFIG.value, src)  # a bad --config fails before reading weights
    out = conv.convert(src, _OUT.value, _CONFIG.value, _BN_STATS.value, overwrite=_OVERWRITE.value)
    print(f"wrote {out}")


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
