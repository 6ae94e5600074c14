"""DCGAN beyond 64x64: one stride-2 block per doubling, parity with PyTorch modules
of the same depth at 128 and 256 (tiny widths), and the converter and loader
following the size stored with the weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dcgan_reference import torch_nets

from dcgan import model as M
from dcgan import torch_layout as layout


def _cfg(res):
    return M.DCGANConfig(nz=5, ngf=2, ndf=2, nc=3, resolution=res)


@pytest.mark.parametrize("res", [128, 256])
def test_depth_grows_one_block_per_doubling(res):
    cfg = _cfg(res)
    n = {128: 5, 256: 6}[res]
    assert cfg.n_up == n and len(cfg.g_widths()) == len(cfg.d_widths()) == n
    assert cfg.g_widths()[0] == 2 * 2 ** (n - 1) and cfg.d_widths()[-1] == 2 * 2 ** (n - 1)
    assert M.CONFIGS[f"seed-{res}"].g_widths()[-1] == 128  # the seed's last G width at every size


@pytest.mark.parametrize("res", [128, 256])
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_parity_with_torch_at_size(res, train):
    cfg = _cfg(res)
    torch, net_g, net_d = torch_nets(cfg)
    g = layout.generator_from_torch(cfg, {k: v.numpy() for k, v in net_g.state_dict().items()})
    d = layout.discriminator_from_torch(cfg, {k: v.numpy() for k, v in net_d.state_dict().items()})
    z = np.random.default_rng(res).standard_normal((3, cfg.nz)).astype(np.float32)
    net_g.train(train)
    net_d.train(train)
    with torch.no_grad():
        x_t = net_g.main(torch.from_numpy(z).view(3, cfg.nz, 1, 1))
        p_t = net_d.main(x_t).view(-1).numpy()
    if train:
        x, g_stats = M.generate(cfg, g, jnp.asarray(z), train=True)
        logits, d_stats = M.discriminate(cfg, d, x, train=True)
        for ours, net, read in ((g_stats, net_g, layout.generator_from_torch),
                                (d_stats, net_d, layout.discriminator_from_torch)):  # fmt: skip
            ref = read(cfg, {k: v.numpy() for k, v in net.state_dict().items()})["batch_stats"]
            jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5),
                         ours, ref)  # fmt: skip
    else:
        x = M.generate(cfg, g, jnp.asarray(z))
        logits = M.discriminate(cfg, d, x)
    assert x.shape == (3, res, res, 3)
    np.testing.assert_allclose(np.asarray(x), x_t.numpy().transpose(0, 2, 3, 1), atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.nn.sigmoid(logits)), p_t, atol=1e-5)


def test_converter_reads_the_size_from_the_files(tmp_path):
    """A 256x256 netG/netD pair converts with the 64x64 preset (the files tell the
    size), loads as a directory, and generates what torch generates."""
    import dcgan
    from weights_convert import dcgan as conv

    cfg = _cfg(256).replace(ndf=3, g_act="relu", init="dcgan", head_bias=False)
    torch, net_g, net_d = torch_nets(cfg)
    torch.save(net_g.state_dict(), tmp_path / "netG.pth")
    torch.save(net_d.state_dict(), tmp_path / "netD.pth")
    conv.convert(tmp_path / "netG.pth", tmp_path / "netD.pth", M.RADFORD_64, tmp_path / "out")
    got, params = dcgan.load(tmp_path / "out")
    g, d = params["generator"], params["discriminator"]
    assert got == cfg
    z = np.random.default_rng(0).standard_normal((2, cfg.nz)).astype(np.float32)
    net_g.eval()
    net_d.eval()
    with torch.no_grad():
        x_t = net_g.main(torch.from_numpy(z).view(2, cfg.nz, 1, 1))
        p_t = net_d.main(x_t).view(-1).numpy()
    x = M.generate(got, g, jnp.asarray(z))
    np.testing.assert_allclose(np.asarray(x), x_t.numpy().transpose(0, 2, 3, 1), atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.nn.sigmoid(M.discriminate(got, d, x))), p_t,
                               atol=1e-5)  # fmt: skip
    # a netD of another depth than the netG is refused, naming both sizes
    small = torch_nets(_cfg(128))[2]
    torch.save(small.state_dict(), tmp_path / "netD128.pth")
    with pytest.raises(ValueError, match="256x256 netG needs 7"):
        conv.convert(tmp_path / "netG.pth", tmp_path / "netD128.pth", M.RADFORD_64,
                     tmp_path / "out2")  # fmt: skip


def test_random_spec_names_each_size():
    """``--weights=random:seed-N:W`` reaches every preset (no compute: the spec and
    the config; the networks at 128 and 256 are exercised above)."""
    from dcgan import hub

    for res in (32, 64, 128, 256):
        ws = hub.parse(f"random:seed-{res}:2")
        assert ws.kind == "random" and ws.width == 2 and M.CONFIGS[ws.name].resolution == res


def test_init_from_weights_of_another_size_is_refused_before_compute(tmp_path):
    """Training from exported weights follows the size stored with them: a 128 run
    cannot start from the embedded 64x64 model (read from its metadata.json)."""
    from dcgan import train
    from dcgan.configs import skimage
    from dcgan.hub import EMBEDDED_DIR

    c = skimage.get_config()
    c.init_from = str(EMBEDDED_DIR)
    train.check_config(c)  # the embedded model's own recipe: accepted
    c.model.resolution = 128
    with pytest.raises(train.ConfigError, match="resolution 64 -> 128"):
        train.check_config(c)
