"""DCGAN models: shapes, ConvT lowering, parity with PyTorch modules on the same weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dcgan_reference import torch_nets as _torch_nets

from dcgan import layers as L
from dcgan import model as M

TINY = M.DCGANConfig(nz=7, ngf=4, ndf=4, nc=3, resolution=32)


@pytest.mark.parametrize("res,nc", [(16, 1), (32, 3)])
def test_shapes(res, nc):
    cfg = M.DCGANConfig(nz=5, ngf=2, ndf=3, nc=nc, resolution=res)
    g = M.init_generator(cfg, jax.random.key(0))
    d = M.init_discriminator(cfg, jax.random.key(1))
    z = jax.random.normal(jax.random.key(2), (3, 5))
    x = M.generate(cfg, g, z)
    assert x.shape == (3, res, res, nc)
    assert float(jnp.max(jnp.abs(x))) <= 1.0
    logits, stats = M.discriminate(cfg, d, x, train=True)
    assert logits.shape == (3,)
    assert set(stats) == {f"bn{i}" for i in range(1, cfg.n_up)}


def test_seed_widths():
    assert M.SEED_64.g_widths() == [1024, 512, 256, 128]
    assert M.SEED_64.d_widths() == [128, 256, 512, 1024]
    assert M.SEED_128.g_widths() == [2048, 1024, 512, 256, 128]
    with pytest.raises(ValueError):
        M.DCGANConfig(resolution=48)


@pytest.mark.parametrize(
    "h,k,s,p", [(4, 4, 2, 1), (5, 4, 2, 1), (3, 4, 2, 0), (1, 4, 1, 0), (6, 6, 3, 2)]
)
def test_subpixel_equals_dilated(h, k, s, p):
    x = jax.random.normal(jax.random.key(0), (2, h, h + 1, 3))
    w = jax.random.normal(jax.random.key(1), (k, k, 3, 5))
    a = L.conv_transpose(x, w, s, p, "dilated")
    b = L.conv_transpose(x, w, s, p, "subpixel")
    assert a.shape == b.shape == (2, (h - 1) * s - 2 * p + k, h * s - 2 * p + k, 5)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@pytest.mark.parametrize(
    "h,k,s,pad",
    [(8, 4, 2, ((1, 1), (1, 1))), (7, 3, 2, ((1, 0), (2, 1))), (6, 2, 1, ((1, 0), (0, 1))),
     (9, 4, 3, ((0, -1), (1, 1))), (5, 4, 1, ((3, 3), (3, 3)))],
)  # fmt: skip
def test_im2col_conv_and_gradients_equal_xla(h, k, s, pad):
    """The im2col lowering (and its col2im gradient) computes XLA's convolution."""
    x = jax.random.normal(jax.random.key(0), (2, h, h + 1, 3))
    w = jax.random.normal(jax.random.key(1), (k, k, 3, 5))
    t = jax.random.normal(jax.random.key(2), L.dense_conv(x, w, s, pad, "xla").shape)

    def run(impl):
        y, vjp = jax.vjp(lambda x, w: L.dense_conv(x, w, s, pad, impl), x, w)
        return (y, *vjp(t))

    for a, b in zip(run("im2col"), run("xla")):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-5, rtol=1e-5)


def test_conv_impl_choice():
    cpu = jax.default_backend() == "cpu"
    assert L.uses_im2col((4, 4, 128, 256), "auto") == cpu  # D's second conv
    assert not L.uses_im2col((4, 4, 3, 128), "auto")  # 3 input channels: XLA
    assert not L.uses_im2col((2, 2, 128, 3), "auto")  # G's last phase: 512 columns, 3 outputs
    assert L.uses_im2col((4, 4, 3, 128), "im2col") and not L.uses_im2col((4, 4, 128, 256), "xla")
    with pytest.raises(ValueError, match="conv_impl"):
        M.DCGANConfig(conv_impl="gemm")


def test_inference_generator_takes_xla_conv_under_auto():
    """im2col pays for gradients; G's forward alone is faster with XLA's conv."""
    cfg = M.DCGANConfig(nz=7, ngf=64, ndf=8, nc=3, resolution=16)  # a 128 -> 64 ConvT
    v = M.init_generator(cfg, jax.random.key(0))
    z = M.sample_latents(jax.random.key(1), 2, 7)
    infer = str(jax.make_jaxpr(lambda v, z: M.generate(cfg, v, z))(v, z))
    train = str(jax.make_jaxpr(lambda v, z: M.generate(cfg, v, z, train=True))(v, z))
    assert "custom_vjp" not in infer
    assert ("custom_vjp" in train) == (jax.default_backend() == "cpu")
    np.testing.assert_array_equal(
        M.generate(cfg, v, z), M.generate(cfg.replace(conv_impl="xla"), v, z)
    )


def test_sample_latents():
    z = M.sample_latents(jax.random.key(0), 4, 10, "uniform")
    assert z.shape == (4, 10) and float(jnp.max(jnp.abs(z))) <= 1
    with pytest.raises(ValueError):
        M.sample_latents(jax.random.key(0), 4, 10, "cauchy")


# ---------------------------------------------------------------- PyTorch parity


@pytest.mark.parametrize(
    "cfg",
    [
        TINY,
        TINY.replace(g_act="relu", init="dcgan", head_bias=False, nc=1, resolution=16),
        TINY.replace(convt_impl="dilated"),
        TINY.replace(conv_impl="im2col"),
    ],
    ids=["seed-lrelu-subpixel", "radford-relu-1ch", "dilated", "im2col"],
)
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_parity_with_torch(cfg, train):
    from dcgan import torch_layout as conv

    torch, net_g, net_d = _torch_nets(cfg)
    sd_g = {k: v.detach().numpy() for k, v in net_g.state_dict().items()}
    sd_d = {k: v.detach().numpy() for k, v in net_d.state_dict().items()}
    g = conv.generator_from_torch(cfg, sd_g)
    d = conv.discriminator_from_torch(cfg, sd_d)

    z = np.random.default_rng(0).standard_normal((6, cfg.nz)).astype(np.float32)
    net_g.train(train)
    net_d.train(train)
    with torch.no_grad():
        x_t = net_g.main(torch.from_numpy(z).view(6, cfg.nz, 1, 1))
        p_t = net_d.main(x_t).view(-1).numpy()
    x_t = x_t.numpy().transpose(0, 2, 3, 1)
    if train:
        x_j, g_stats = M.generate(cfg, g, jnp.asarray(z), train=True)
        logits, d_stats = M.discriminate(cfg, d, x_j, train=True)
    else:
        x_j = M.generate(cfg, g, jnp.asarray(z))
        logits = M.discriminate(cfg, d, x_j)
    np.testing.assert_allclose(np.asarray(x_j), x_t, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.asarray(jax.nn.sigmoid(logits)), p_t, atol=1e-5, rtol=0)
    if train:  # running statistics updated exactly like torch (momentum 0.1, unbiased var)
        new_g = conv.generator_from_torch(
            cfg, {k: v.numpy() for k, v in net_g.state_dict().items()}
        )
        new_d = conv.discriminator_from_torch(
            cfg, {k: v.numpy() for k, v in net_d.state_dict().items()}
        )
        for ours, ref in ((g_stats, new_g["batch_stats"]), (d_stats, new_d["batch_stats"])):
            jax.tree.map(
                lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5), ours, ref
            )


@pytest.mark.parametrize("conv_impl", ["xla", "im2col"])
def test_gradients_match_torch(conv_impl):
    """Training-mode backward through G and D agrees with autograd."""
    cfg = TINY.replace(conv_impl=conv_impl)
    from dcgan import torch_layout as conv

    torch, net_g, net_d = _torch_nets(cfg)
    g = conv.generator_from_torch(cfg, {k: v.numpy() for k, v in net_g.state_dict().items()})
    d = conv.discriminator_from_torch(cfg, {k: v.numpy() for k, v in net_d.state_dict().items()})
    z = np.random.default_rng(1).standard_normal((4, cfg.nz)).astype(np.float32)
    net_g.train()
    net_d.train()
    out = net_d.main(net_g.main(torch.from_numpy(z).view(4, cfg.nz, 1, 1))).view(-1)
    torch.log(out).mean().backward()

    def f(gp):
        x, _ = M.generate(cfg, {**g, "params": gp}, jnp.asarray(z), train=True)
        logits, _ = M.discriminate(cfg, d, x, train=True)
        return jnp.mean(jax.nn.log_sigmoid(logits))

    grads = jax.grad(f)(g["params"])
    ref = conv.generator_from_torch(
        cfg,
        {
            k: (v.grad.numpy() if v.grad is not None else v.detach().numpy())
            for k, v in net_g.named_parameters()
        }
        | {k: v.numpy() for k, v in net_g.named_buffers()},
    )["params"]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4), grads, ref)


def test_no_recompile_on_second_call():
    cfg = TINY
    g = M.init_generator(cfg, jax.random.key(0))
    f = jax.jit(lambda v, z: M.generate(cfg, v, z))
    z = jnp.zeros((2, cfg.nz))
    f(g, z)
    f(g, z + 1)
    assert f._cache_size() == 1


# ---------------------------------------------------------------- dcgan.load: the --weights grammar


def test_load_random_spec(monkeypatch):
    import dcgan
    from dcgan import hub

    cfg, params = dcgan.load("random:seed-64:8")
    g, d = params["generator"], params["discriminator"]
    assert cfg == M.SEED_64.replace(ngf=8, ndf=8)
    assert hub.metadata("random:seed-64:8", seed=3) == {"model": "dcgan", "random": "seed-64:8", "seed": 3}
    assert g["params"]["convt0"]["kernel"].shape == (4, 4, 100, 64)
    assert d["params"]["conv0"]["kernel"].shape == (4, 4, 3, 8)
    with monkeypatch.context() as m:  # the config only: no seed-width weights to draw
        m.setattr(hub, "init_generator", lambda cfg, key: {})
        m.setattr(hub, "init_discriminator", lambda cfg, key: {})
        assert dcgan.load("random")[0] == M.SEED_64  # default config, seed width
    same = dcgan.load("random:seed-64:8")[1]
    jax.tree.map(np.testing.assert_array_equal, params, same)  # a pure function of (spec, seed)
    for bad, msg in (("random:nope", "unknown config"), ("random:seed-64:x", "whole number"),
                     ("/no/such/path", "not a release")):  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            dcgan.load(bad)


def test_load_embedded_equals_default_and_dir():
    import dcgan
    from dcgan import hub

    a, b, c = dcgan.load(), dcgan.load("embedded"), dcgan.load(dcgan.EMBEDDED_DIR)
    assert a[0] == b[0] == c[0] and hub.metadata()["trained_steps"] == 1500
    assert hub.metadata() == hub.metadata(dcgan.EMBEDDED_DIR)
    jax.tree.map(np.testing.assert_array_equal, a[1], c[1])


def test_load_raw_pth_file_reads_its_shapes(tmp_path):
    """A pytorch/examples netG.pth loads directly (converted on load, shapes read
    from the file) and generates what torch generates."""
    import dcgan

    cfg = TINY.replace(g_act="relu", init="dcgan", head_bias=False, nc=1, resolution=16)
    torch, net_g, _ = _torch_nets(cfg)
    torch.save(net_g.state_dict(), tmp_path / "netG_epoch_0.pth")
    got, params = dcgan.load(tmp_path / "netG_epoch_0.pth", config="radford-64")
    g = params["generator"]
    assert got == M.RADFORD_64.replace(nz=7, ngf=4, ndf=4, nc=1, resolution=16)
    assert params["discriminator"] == {}
    z = np.random.default_rng(0).standard_normal((3, cfg.nz)).astype(np.float32)
    net_g.eval()
    with torch.no_grad():
        want = net_g.main(torch.from_numpy(z).view(3, cfg.nz, 1, 1)).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(M.generate(got, g, jnp.asarray(z)), want, atol=1e-5)
    torch.save({"main.0.weight": torch.zeros(7, 16, 4, 4)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="ConvT layers"):
        dcgan.load(tmp_path / "bad.pth")
