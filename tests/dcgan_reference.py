"""pytorch/examples-style DCGAN reference modules for the parity tests (any depth)."""

import pytest


def torch_nets(cfg):
    """pytorch/examples-style Sequential netG / netD for ``cfg`` (generic in depth)."""
    torch = pytest.importorskip("torch", reason="parity tests need torch")
    nn = torch.nn
    g_act = (lambda: nn.LeakyReLU(0.2)) if cfg.g_act == "leaky_relu" else (lambda: nn.ReLU())
    layers, cin = [], cfg.nz
    for i, w in enumerate(cfg.g_widths()):
        s, p = (1, 0) if i == 0 else (2, 1)
        layers += [nn.ConvTranspose2d(cin, w, 4, s, p, bias=False), nn.BatchNorm2d(w), g_act()]
        cin = w
    layers += [nn.ConvTranspose2d(cin, cfg.nc, 4, 2, 1, bias=False), nn.Tanh()]
    net_g = nn.Module()
    net_g.main = nn.Sequential(*layers)  # pytorch/examples names: main.{j}.*
    layers, cin = [], cfg.nc
    for i, w in enumerate(cfg.d_widths()):
        layers.append(nn.Conv2d(cin, w, 4, 2, 1, bias=False))
        if i > 0:
            layers.append(nn.BatchNorm2d(w))
        layers.append(nn.LeakyReLU(0.2))
        cin = w
    layers += [nn.Conv2d(cin, 1, 4, 1, 0, bias=cfg.head_bias), nn.Sigmoid()]
    net_d = nn.Module()
    net_d.main = nn.Sequential(*layers)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for net in (net_g, net_d):
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):  # non-trivial affine and running stats
                    m.weight.normal_(1.0, 0.3, generator=gen)
                    m.bias.normal_(0.0, 0.3, generator=gen)
                    m.running_mean.normal_(0.0, 0.3, generator=gen)
                    m.running_var.uniform_(0.5, 2.0, generator=gen)
    return torch, net_g, net_d
