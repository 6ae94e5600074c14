"""Every model's ``load`` returns the same shape: ``(cfg, params)``, ``cfg`` a frozen
config dataclass, ``params`` a plain dict pytree of float arrays -- for
``random:`` specs (tiny widths) and for a converted directory read back.
DCGAN's ``params`` is ``{"generator", "discriminator"}``; what its weights record
is :func:`dcgan.hub.metadata`, never part of what ``load`` returns."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from fixtures import TINY_BIGGAN, TINY_VGG16

TINY_DCGAN = "random:seed-32:2"


def _loaders():
    import biggan_jax
    import dcgan
    from styletransfer import hub as style_hub

    return {
        "biggan": lambda spec: biggan_jax.load(spec),
        "vgg": lambda spec: style_hub.load(spec, head=True),
        "dcgan": lambda spec: dcgan.load(spec),
    }


def _check_shape(loaded) -> None:
    assert type(loaded) is tuple and len(loaded) == 2, type(loaded)
    cfg, params = loaded
    assert dataclasses.is_dataclass(cfg) and type(cfg).__dataclass_params__.frozen, type(cfg)
    assert type(params) is dict and params, type(params)
    leaves = jax.tree.leaves(params)
    assert leaves and all(isinstance(a, np.ndarray | jax.Array) for a in leaves)
    assert all(np.asarray(a).dtype == np.float32 for a in leaves)


def _save(model: str, out, cfg, params):
    if model == "biggan":
        from weights_convert import biggan as conv

        return conv.save(out, cfg, params, source="test", source_sha256=None)
    if model == "vgg":
        from weights_convert import vgg as conv

        return conv.save(out, cfg, params, source="test", source_sha256=None)
    from dcgan import checkpoints

    return checkpoints.export(out, cfg, params["generator"], params["discriminator"], {})


SPECS = {"biggan": TINY_BIGGAN, "vgg": TINY_VGG16, "dcgan": TINY_DCGAN}


@pytest.mark.parametrize("model", sorted(SPECS))
def test_random_and_converted_loads_have_one_shape(model, tmp_path, request):
    load = _loaders()[model]
    # BigGAN's and VGG's random loads are the shared session fixtures (built once per worker)
    fixture = {"biggan": "tiny_biggan", "vgg": "tiny_vgg16"}.get(model)
    cfg, params = loaded = request.getfixturevalue(fixture) if fixture else load(SPECS[model])
    _check_shape(loaded)
    back = load(_save(model, tmp_path / model, cfg, params))
    _check_shape(back)
    assert jax.tree.structure(back[1]) == jax.tree.structure(params)
    jax.tree.map(np.testing.assert_array_equal, back[1], params)
    if model == "biggan":
        assert back[0].to_hf_dict() == cfg.to_hf_dict()
    else:
        assert back[0] == cfg


def test_dcgan_params_hold_both_networks_and_metadata_is_separate(tmp_path):
    import dcgan
    from dcgan import hub

    cfg, params = dcgan.load(TINY_DCGAN)
    assert set(params) == {"generator", "discriminator"}
    assert set(params["generator"]) == {"params", "batch_stats"} and params["discriminator"]
    out = tmp_path / "noD"
    from dcgan import checkpoints

    checkpoints.export(out, cfg, params["generator"], {}, {"trained_steps": 7})
    cfg2, params2 = dcgan.load(out)
    assert cfg2 == cfg and params2["discriminator"] == {}
    assert hub.metadata(out)["trained_steps"] == 7 and hub.metadata(out)["model"] == "dcgan"
    assert hub.metadata(TINY_DCGAN, seed=4) == {"model": "dcgan", "random": "seed-32:2", "seed": 4}
    for loader in (hub.random_weights("seed-32", 2), hub.load_dir(out)):
        assert len(loader) == 2 and set(loader[1]) == {"generator", "discriminator"}
