"""BigGAN-deep checkpoints -> Flax params -> orbax.

Sources:

* the PyTorch release of ``pytorch_pretrained_biggan`` (Hugging Face):
  ``biggan-deep-{128,256,512}-pytorch_model.bin`` + ``-config.json``;
* the TF-Hub modules ``deepmind/biggan-deep-{128,256,512}``: checkpoint
  variables named like ``Generator/GBlock_3/conv1/w/ema_0.9999`` plus the
  standing BN statistics, which the module holds as constants in its graph (the
  ``module_apply_default/stack_N`` tensors): :func:`extract_bn_stats` reads them
  from the unpacked module directory, or give them as a stats file.

Both go through one name table (:func:`name_table`), so a TF-Hub conversion and
a ``.bin`` conversion of the same weights give the same params.

CLI::

    python -m weights_convert.biggan --src=biggan-deep-256-pytorch_model.bin --out=DIR
    python -m weights_convert.biggan --src=tfhub_module_dir --config=biggan-deep-256 --out=DIR
    python -m weights_convert.biggan --src=ckpt_prefix --bn_stats=stats.npz \
        --config=biggan-deep-256 --out=DIR
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Callable

import numpy as np

from biggan_jax.configs import BigGANConfig, get_config
from neural_art import store
from neural_art.fetch import sha256_file
from weights_convert.torch_io import check_tensors, load_torch_state_dict

# ---------------------------------------------------------------- name table

_T = lambda a: np.ascontiguousarray(a.T)  # linear weight [out, in] -> kernel [in, out]
_CONV = lambda a: np.ascontiguousarray(a.transpose(2, 3, 1, 0))  # OIHW -> HWIO
_ID = lambda a: np.ascontiguousarray(a)


def _conv_v(kernel_shape):  # torch v over (I, kh, kw) -> ours over (kh, kw, I)
    kh, kw, i, _ = kernel_shape
    return lambda a: np.ascontiguousarray(a.reshape(i, kh, kw).transpose(1, 2, 0))


def _conv_v_inv(kernel_shape):
    return lambda a: np.ascontiguousarray(a.transpose(2, 0, 1).reshape(-1))


@dataclasses.dataclass(frozen=True)
class Entry:
    """One tensor: where it lives in our tree, its torch name and TF-Hub name."""

    path: tuple[str, ...]  # (collection, module..., leaf)
    shape: tuple[int, ...]  # our shape
    torch: str
    torch_shape: tuple[int, ...]
    from_torch: Callable[[np.ndarray], np.ndarray]
    to_torch: Callable[[np.ndarray], np.ndarray]
    tf: str | None  # None: not a TF variable (v, stats)


def name_table(cfg: BigGANConfig) -> list[Entry]:
    """Every tensor of the model: our path <-> reference torch name <-> TF-Hub name."""
    out: list[Entry] = []
    ch = cfg.channel_width

    def linear(mod, pt, tf, fan_in, fan_out, bias):
        out.append(Entry(("params", *mod, "kernel"), (fan_in, fan_out), f"{pt}.weight_orig",
                         (fan_out, fan_in), _T, _T, f"{tf}w/ema_0.9999"))  # fmt: skip
        if bias:
            out.append(Entry(("params", *mod, "bias"), (fan_out,), f"{pt}.bias", (fan_out,), _ID, _ID,
                             f"{tf}b/ema_0.9999"))  # fmt: skip
        out.append(
            Entry(
                ("spectral", *mod, "u"),
                (fan_out,),
                f"{pt}.weight_u",
                (fan_out,),
                _ID,
                _ID,
                f"{tf}u0",
            )
        )
        out.append(
            Entry(("spectral", *mod, "v"), (fan_in,), f"{pt}.weight_v", (fan_in,), _ID, _ID, None)
        )

    def convk(mod, pt, tf, k, cin, cout, bias):
        ks = (k, k, cin, cout)
        out.append(Entry(("params", *mod, "kernel"), ks, f"{pt}.weight_orig", (cout, cin, k, k), _CONV,
                         lambda a: np.ascontiguousarray(a.transpose(3, 2, 0, 1)), f"{tf}w/ema_0.9999"))  # fmt: skip
        if bias:
            out.append(Entry(("params", *mod, "bias"), (cout,), f"{pt}.bias", (cout,), _ID, _ID,
                             f"{tf}b/ema_0.9999"))  # fmt: skip
        out.append(
            Entry(("spectral", *mod, "u"), (cout,), f"{pt}.weight_u", (cout,), _ID, _ID, f"{tf}u0")
        )
        out.append(Entry(("spectral", *mod, "v"), (k, k, cin), f"{pt}.weight_v", (cin * k * k,), _conv_v(ks),
                         _conv_v_inv(ks), None))  # fmt: skip

    def stats(mod, pt, c):
        for n in ("running_means", "running_vars"):
            out.append(
                Entry(
                    ("batch_stats", *mod, n),
                    (cfg.n_stats, c),
                    f"{pt}.{n}",
                    (cfg.n_stats, c),
                    _ID,
                    _ID,
                    None,
                )
            )

    out.append(Entry(("params", "embeddings"), (cfg.num_classes, cfg.class_embed_dim), "embeddings.weight",
                     (cfg.class_embed_dim, cfg.num_classes), _T, _T, "linear/w/ema_0.9999"))  # fmt: skip
    linear(
        ("gen_z",), "generator.gen_z", "Generator/GenZ/G_linear/", cfg.cond_dim, 16 * 16 * ch, True
    )
    gblock = 0
    for k, spec in enumerate(cfg.blocks()):
        pt = f"generator.layers.{k}"
        name = spec.name
        if spec.kind == "attention":
            tf = "Generator/attention/"
            c = spec.in_ch
            for sub, tfsub, ci, co in (("snconv1x1_theta", "theta", c, c // 8), ("snconv1x1_phi", "phi", c, c // 8),
                                       ("snconv1x1_g", "g", c, c // 2), ("snconv1x1_o_conv", "o_conv", c // 2, c)):  # fmt: skip
                convk((name, sub), f"{pt}.{sub}", f"{tf}{tfsub}/", 1, ci, co, False)
            out.append(
                Entry(
                    ("params", name, "gamma"),
                    (1,),
                    f"{pt}.gamma",
                    (1,),
                    _ID,
                    _ID,
                    f"{tf}gamma/ema_0.9999",
                )
            )
            continue
        tf = "Generator/GBlock/" if gblock == 0 else f"Generator/GBlock_{gblock}/"
        gblock += 1
        mid = spec.mid_ch
        chans = (spec.in_ch, mid, mid, mid)
        for i in range(4):
            bn_tf = tf + ("BatchNorm/" if i == 0 else f"BatchNorm_{i}/")
            for part in ("scale", "offset"):
                linear(
                    (name, f"bn_{i}", part),
                    f"{pt}.bn_{i}.{part}",
                    f"{bn_tf}{part}/",
                    cfg.cond_dim,
                    chans[i],
                    False,
                )
            stats((name, f"bn_{i}"), f"{pt}.bn_{i}", chans[i])
        for i, (kk, ci, co) in enumerate(
            ((1, spec.in_ch, mid), (3, mid, mid), (3, mid, mid), (1, mid, spec.out_ch))
        ):
            convk((name, f"conv_{i}"), f"{pt}.conv_{i}", f"{tf}conv{i}/", kk, ci, co, True)
    out.append(Entry(("params", "bn", "weight"), (ch,), "generator.bn.weight", (ch,), _ID, _ID,
                     "Generator/BatchNorm/scale/ema_0.9999"))  # fmt: skip
    out.append(Entry(("params", "bn", "bias"), (ch,), "generator.bn.bias", (ch,), _ID, _ID,
                     "Generator/BatchNorm/offset/ema_0.9999"))  # fmt: skip
    stats(("bn",), "generator.bn", ch)
    convk(("conv_to_rgb",), "generator.conv_to_rgb", "Generator/conv_to_rgb/", 3, ch, ch, True)
    return out


def _set(tree: dict, path: tuple[str, ...], value) -> None:
    for p in path[:-1]:
        tree = tree.setdefault(p, {})
    tree[path[-1]] = value


def _get(tree, path):
    for p in path:
        tree = tree[p]
    return tree


# ---------------------------------------------------------------- PyTorch .bin


def from_torch_state_dict(
    cfg: BigGANConfig, sd: dict[str, np.ndarray], *, source: str = "state dict"
) -> dict:
    """Reference state dict (numpy) -> our ``{"params", "spectral", "batch_stats"}``.

    Strict: every missing, unexpected or wrongly shaped tensor is reported.
    A computed ``X.weight`` beside ``X.weight_orig`` (older spectral-norm state
    dicts) is redundant and ignored.
    """
    sd = {k: v for k, v in sd.items() if not (k.endswith(".weight") and k + "_orig" in sd)}
    table = name_table(cfg)
    check_tensors({e.torch: e.torch_shape for e in table}, sd, source=source)
    tree: dict = {}
    for e in table:
        _set(tree, e.path, e.from_torch(np.asarray(sd[e.torch], np.float32)))
    return tree


def to_torch_state_dict(cfg: BigGANConfig, params) -> dict[str, np.ndarray]:
    """Inverse of :func:`from_torch_state_dict` (for tests and export)."""
    return {
        e.torch: e.to_torch(np.asarray(_get(params, e.path), np.float32)) for e in name_table(cfg)
    }


def read_hf_config(path: str | os.PathLike, name: str = "custom") -> BigGANConfig:
    with open(path, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from e
    try:
        return BigGANConfig.from_hf_dict(d, name=name)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: not a BigGAN-deep config: {e}") from e


def convert_torch(bin_path: str | os.PathLike, cfg: BigGANConfig) -> dict:
    """Reads a reference ``pytorch_model.bin`` safely and converts it."""
    return from_torch_state_dict(cfg, load_torch_state_dict(bin_path), source=str(bin_path))


# ---------------------------------------------------------------- TF-Hub


def _tf():
    try:
        import tensorflow as tf
    except ImportError as e:  # pragma: no cover
        raise ImportError(
            "reading TF-Hub checkpoints needs: pip install 'neural-art-jax[tfhub]'"
        ) from e
    return tf


def _checkpoint_prefix(src: str | os.PathLike) -> str:
    src = os.fspath(src)
    if os.path.isdir(src) and os.path.isdir(os.path.join(src, "variables")):
        return os.path.join(src, "variables", "variables")  # a TF-Hub module directory
    return src


def read_bn_stats(path: str | os.PathLike) -> list[np.ndarray]:
    """Standing BN statistics in the TF-Hub module's order: for each residual
    block, for BN 0..3: means ``[n_stats, C]``, vars; then the final BN's.

    Accepts ``.npz`` (``arr_0``, ``arr_1``, ... as written by
    :func:`extract_bn_stats` or ``np.savez``) or a torch-saved list of tensors
    (read with ``weights_only=True``).
    """
    path = os.fspath(path)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            return [z[f"arr_{i}"] for i in range(len(z.files))]
    import pickle

    try:
        import torch
    except ImportError as e:  # pragma: no cover
        raise ImportError(
            f"{path}: a torch-saved stats list needs torch; or convert it to .npz"
        ) from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"refusing {path}: not a plain list of tensors ({e}); save it as .npz instead"
        ) from e
    return [np.asarray(t) for t in obj]


def extract_bn_stats(
    module_path: str | os.PathLike, out_npz: str | os.PathLike | None = None
) -> list[np.ndarray]:
    """Standing BN statistics of a TF-Hub BigGAN-deep module (TF1 Hub format, the
    unpacked ``deepmind/biggan-deep-*`` download), in :func:`read_bn_stats`'s order.

    The module's graph holds them as constant ``tf.stack`` ops; the reference
    converter (``pytorch_pretrained_biggan.convert_tf_to_pytorch``) reads
    ``module_apply_default/stack_{10i+1, 10i+3, 10i+6, 10i+8}`` for i = 0, 1, ...
    until one is missing, through ``hub.Module`` — which tensorflow-hub 0.16 no
    longer has. We load the same SavedModel with
    ``tf.compat.v1.saved_model.load_v2`` (as ``hub.load`` does for TF1 modules)
    and prune the graph to those tensors (``stack_N`` at the top level of the
    module's own graph; ``module_apply_default/stack_N`` also accepted). Saves
    ``out_npz`` if given (``arr_0``, ``arr_1``, ...)."""
    tf = _tf()
    module_path = os.fspath(module_path)
    try:
        obj = tf.compat.v1.saved_model.load_v2(module_path, tags=[])
    except Exception as e:
        raise ValueError(f"{module_path}: not a TF1 Hub / SavedModel directory ({e})") from e
    graph = obj.graph

    def tensor(i):
        for name in (f"stack_{i}:0", f"module_apply_default/stack_{i}:0"):
            try:
                return graph.get_tensor_by_name(name)
            except (KeyError, ValueError):
                continue
        return None

    names = []
    for i in (10 * k + j for k in range(50) for j in (1, 3, 6, 8)):
        t = tensor(i)
        if t is None:
            break  # all the stats were read (as the reference converter stops)
        names.append(t.name)
    if not names:
        raise ValueError(f"{module_path}: no stack_N tensors: not a BigGAN-deep TF-Hub module")
    arrays = [np.asarray(a) for a in obj.prune([], names)()]
    if out_npz is not None:
        np.savez(out_npz, *arrays)
    return arrays


def convert_tfhub(
    src: str | os.PathLike, cfg: BigGANConfig, bn_stats: list[np.ndarray] | str
) -> dict:
    """TF-Hub checkpoint (module dir or checkpoint prefix) + BN stats -> our params.

    ``v`` is derived as the reference converter does, with one power iteration
    from the stored ``u0``: ``v = normalize(Wᵀu0)``, ``u = normalize(W v)``
    (``eps = cfg.eps``), so the result equals converting the reference's
    ``.bin`` made from the same module.
    """
    import jax

    from biggan_jax.layers import power_iteration

    tf = _tf()
    prefix = _checkpoint_prefix(src)
    try:
        available = dict(tf.train.list_variables(prefix))
    except Exception as e:
        raise ValueError(f"{src}: not a readable TF checkpoint ({e})") from e
    table = name_table(cfg)
    tf_entries = [e for e in table if e.tf is not None]

    def tf_shape(e):  # TF-Hub layout: kernels as ours; u0 as [1, out]; gamma scalar-ish
        if e.path[-1] == "u":
            return (1, *e.shape)
        return e.shape

    got = {n: tuple(s) for n, s in available.items()}
    expected = {e.tf: tf_shape(e) for e in tf_entries}
    # gamma is stored as a scalar or [1]; accept either.
    for e in tf_entries:
        if e.path[-1] == "gamma" and got.get(e.tf) == ():
            got[e.tf] = (1,)
    check_tensors(expected, {k: v for k, v in got.items() if k in expected or "ema_0.9999" in k or k.endswith("u0")},
                  source=str(src))  # fmt: skip
    if isinstance(bn_stats, (str, os.PathLike)):
        bn_stats = read_bn_stats(bn_stats)
    stat_entries = [e for e in table if e.path[0] == "batch_stats"]
    if len(bn_stats) != len(stat_entries):
        raise ValueError(
            f"BN stats: {len(bn_stats)} arrays, the {cfg.name} model needs {len(stat_entries)} "
            "(means and vars of every BN, in module order)"
        )
    check_tensors(
        {f"stats[{i}] ({'/'.join(e.path[1:])})": e.shape for i, e in enumerate(stat_entries)},
        {
            f"stats[{i}] ({'/'.join(e.path[1:])})": np.shape(a)
            for i, (e, a) in enumerate(zip(stat_entries, bn_stats, strict=True))
        },
        source="BN stats",
    )
    tree: dict = {}
    for e in tf_entries:
        a = np.asarray(tf.train.load_variable(prefix, e.tf), np.float32)
        _set(tree, e.path, a.reshape(e.shape))
    for e, a in zip(stat_entries, bn_stats, strict=True):
        _set(tree, e.path, np.asarray(a, np.float32))

    def derive(params, spectral):
        if "u" in spectral:
            u, v = power_iteration(params["kernel"], spectral["u"], n_iter=1, eps=cfg.eps)
            return {"u": np.asarray(u), "v": np.asarray(v)}
        return {k: derive(params[k], spectral[k]) for k in spectral}

    with jax.default_device(jax.devices("cpu")[0]):
        tree["spectral"] = derive(tree["params"], tree["spectral"])
    return tree


# ---------------------------------------------------------------- orbax output


def save(
    out: str | os.PathLike, cfg: BigGANConfig, params, *, source: str, source_sha256: str | None
) -> pathlib.Path:
    return store.save_params(
        out,
        params,
        {
            "model": "biggan-deep",
            "config_name": cfg.name,
            "config": cfg.to_hf_dict(),
            "source": source,
            "source_sha256": source_sha256,
            "converter": "weights_convert.biggan",
        },
    )


def main(argv=None) -> None:
    from absl import app, flags

    flags.DEFINE_string(
        "src", None, "pytorch_model.bin, or a TF-Hub module dir / TF checkpoint prefix."
    )
    flags.DEFINE_string("out", None, "Output directory (orbax params + metadata.json).")
    flags.DEFINE_string("config", None, "Config name (biggan-deep-128/256/512) or a config.json path. "
                        "Default for .bin: the config.json beside it.")  # fmt: skip
    flags.DEFINE_string("bn_stats", None, "TF-Hub only: .npz of the standing BN statistics "
                        "(default: read from the module dir's graph).")  # fmt: skip
    flags.mark_flags_as_required(["src", "out"])
    FLAGS = flags.FLAGS

    def run(_):
        src = FLAGS.src
        cfg_arg = FLAGS.config
        if cfg_arg is None:
            cand = [os.path.join(os.path.dirname(src), n) for n in ("config.json",)]
            base = os.path.basename(src).replace("-pytorch_model.bin", "-config.json")
            cand.append(os.path.join(os.path.dirname(src), base))
            found = [c for c in cand if os.path.exists(c)]
            if not found:
                raise app.UsageError(
                    f"--config not given and no config.json beside {src} (looked for {cand})"
                )
            cfg = read_hf_config(found[0])
        elif os.path.exists(cfg_arg):
            cfg = read_hf_config(cfg_arg)
        else:
            cfg = get_config(cfg_arg)
        if os.path.isfile(src) and not src.endswith((".index", ".data-00000-of-00001")):
            params = convert_torch(src, cfg)
            digest = sha256_file(src)
        else:
            stats = FLAGS.bn_stats
            if not stats:
                if not os.path.exists(os.path.join(src, "saved_model.pb")):
                    raise app.UsageError(
                        f"--bn_stats is needed: {src} is a checkpoint, not a TF-Hub module "
                        "directory (with saved_model.pb) to read the statistics from"
                    )
                stats = extract_bn_stats(src)
            params = convert_tfhub(src, cfg, stats)
            digest = None
        path = save(FLAGS.out, cfg, params, source=os.path.abspath(src), source_sha256=digest)
        print(f"wrote {path}")

    app.run(run, argv=argv)


if __name__ == "__main__":
    main()
