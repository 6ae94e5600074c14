"""styletransfer.vgg.fold_head and featvis' use of it: the adaptive pool folded
into fc6 gives the same logits below 224², changes nothing where it cannot fold,
and a featvis render with a VGG built twice compiles once."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from featvis import models
from featvis import objectives as O
from featvis import param as P
from featvis import render as R
from styletransfer import vgg

SMALL = vgg.VGG16.replace(name="vgg16-small", widths=(4, 8, 8, 16, 16), hidden=32, num_classes=10)
# one compile per (config, shape) instead of one per eager op
_apply = jax.jit(vgg.apply, static_argnums=(0, 3), static_argnames=("pooling", "head"))


@pytest.fixture(scope="module")
def params():
    return jax.jit(vgg.init_params, static_argnums=0)(SMALL, jax.random.key(0))


@pytest.mark.parametrize("hw,side", [((64, 64), 2), ((100, 100), 3), ((32, 32), 1), ((200, 200), 6)])
def test_folded_head_gives_the_same_logits(params, hw, side):
    cfg, folded = vgg.fold_head(SMALL, params, hw)
    assert cfg.pool_size == side
    assert folded["fc6"]["kernel"].shape == (side * side * 16, 32)
    assert folded["conv1_1"] is params["conv1_1"]  # only fc6 changes
    x = jax.random.uniform(jax.random.key(1), (3, *hw, 3))
    want = _apply(SMALL, params, x, ("fc8", "fc6"))
    got = _apply(cfg, folded, x, ("fc8", "fc6"))
    for a, b in [(got[0], want[0]), (got[1]["fc6"], want[1]["fc6"])]:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * float(jnp.max(jnp.abs(b))))


@pytest.mark.parametrize("hw", [(224, 224), (64, 96), (16, 16)])
def test_nothing_folds_at_7x7_non_square_or_without_a_pool5(params, hw):
    cfg, same = vgg.fold_head(SMALL, params, hw)
    assert cfg == SMALL and same is params
    head_less = {k: v for k, v in params.items() if not k.startswith("fc")}
    assert vgg.fold_head(SMALL, head_less, (64, 64))[1] is head_less


def test_featvis_vgg_model_folds_and_a_rebuilt_model_does_not_recompile(params, caplog):
    prm, opt = P.pixel(64, 64), optax.adam(0.01)
    kw = dict(key=jax.random.key(0), steps=2, optimizer=opt, chunk_size=2, loop="steps")
    model = models.vgg_from(SMALL, params, ["fc8"])
    folded = model.specialize(model.params, (64, 64))
    assert folded.apply.cfg.pool_size == 2 and folded.specialize is None
    assert models.vgg_from(SMALL, params, ["relu5_3"]).specialize is None  # no head, nothing to fold
    out = R.render_many(O.class_logit, jnp.arange(2), prm, model, **kw)
    unfolded = R.render_many(O.class_logit, jnp.arange(2), prm, model._replace(specialize=None), **kw)
    np.testing.assert_allclose(out.objective, unfolded.objective, rtol=1e-5, atol=1e-7)
    caplog.set_level(logging.WARNING)
    with jax.log_compiles(True):  # a model built anew is equal: the same compiled programs
        again = models.vgg_from(SMALL, params, ["fc8"])
        jax.block_until_ready(R.render_many(O.class_logit, jnp.arange(2), prm, again, **kw))
    compiles = [r.getMessage() for r in caplog.records if "Finished XLA compilation" in r.getMessage()]
    assert compiles == [], compiles
