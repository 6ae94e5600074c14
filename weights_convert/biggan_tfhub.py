"""TF-Hub BigGAN-deep modules -> our params.

The modules ``deepmind/biggan-deep-{128,256,512}`` hold checkpoint variables
named like ``Generator/GBlock_3/conv1/w/ema_0.9999`` plus the standing BN
statistics, which the module keeps as constants in its graph (the
``module_apply_default/stack_N`` tensors): :func:`extract_bn_stats` reads them
from the unpacked module directory, or give them as a stats file
(:func:`read_bn_stats`). Names go through :func:`weights_convert.biggan_names.name_table`,
the table the ``.bin`` converter uses.
"""

from __future__ import annotations

import os

import numpy as np

from biggan_jax.configs import BigGANConfig
from biggan_jax.layers import power_iteration
from weights_convert.biggan_names import name_table, set_leaf
from weights_convert.torch_io import check_tensors
from neural_art.errors import UserError


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
        raise UserError(
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
        raise UserError(f"{module_path}: not a TF1 Hub / SavedModel directory ({e})") from e
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
        raise UserError(f"{module_path}: no stack_N tensors: not a BigGAN-deep TF-Hub module")
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

    tf = _tf()
    prefix = _checkpoint_prefix(src)
    try:
        available = dict(tf.train.list_variables(prefix))
    except Exception as e:
        raise UserError(f"{src}: not a readable TF checkpoint ({e})") from e
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
    _check_bn_stats(cfg, stat_entries, bn_stats)
    tree: dict = {}
    for e in tf_entries:
        a = np.asarray(tf.train.load_variable(prefix, e.tf), np.float32)
        set_leaf(tree, e.path, a.reshape(e.shape))
    for e, a in zip(stat_entries, bn_stats, strict=True):
        set_leaf(tree, e.path, np.asarray(a, np.float32))
    with jax.default_device(jax.devices("cpu")[0]):
        tree["spectral"] = _derive_spectral(tree["params"], tree["spectral"], cfg.eps)
    return tree


def _derive_spectral(params, spectral, eps: float):
    """``u, v`` from ``u0`` by one power iteration, for every spectral-norm layer."""
    if "u" in spectral:
        u, v = power_iteration(params["kernel"], spectral["u"], n_iter=1, eps=eps)
        return {"u": np.asarray(u), "v": np.asarray(v)}
    return {k: _derive_spectral(params[k], spectral[k], eps) for k in spectral}


def _check_bn_stats(cfg: BigGANConfig, stat_entries, bn_stats) -> None:
    if len(bn_stats) != len(stat_entries):
        raise UserError(
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
