"""Builds the reference PyTorch BigGAN-deep (``pytorch_pretrained_biggan``) with
random but realistic weights, for parity tests. Imported only by tests that
have already checked torch is installed."""

from __future__ import annotations

import numpy as np


def random_reference(cfg, seed: int = 0):
    """A reference ``BigGAN`` in eval mode with random weights: kernels ~ N(0, 1),
    spectral vectors from 10 power iterations (so W/σ has norm ≈ 1 like a trained
    model's), nonzero attention γ, standing statistics varying across the 51 rows."""
    import torch
    from pytorch_pretrained_biggan import BigGAN
    from pytorch_pretrained_biggan import BigGANConfig as RefConfig

    torch.manual_seed(seed)
    model = BigGAN(RefConfig.from_dict(cfg.to_hf_dict())).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("weight_orig") or name == "embeddings.weight":
                t.normal_(0, 1, generator=g)
            elif name.endswith(".bias"):
                t.normal_(0, 0.1, generator=g)
            elif name.endswith("running_means"):
                t.normal_(0, 0.3, generator=g)
            elif name.endswith("running_vars"):
                t.uniform_(0.5, 2.0, generator=g)
            elif name.endswith("gamma"):
                t.fill_(0.7)
            elif name == "generator.bn.weight":
                t.normal_(1.0, 0.1, generator=g)
        for m in model.modules():
            if hasattr(m, "weight_orig"):
                w = m.weight_orig.reshape(m.weight_orig.shape[0], -1)
                u = torch.nn.functional.normalize(torch.randn(w.shape[0], generator=g), dim=0)
                for _ in range(10):
                    v = torch.nn.functional.normalize(w.t() @ u, dim=0)
                    u = torch.nn.functional.normalize(w @ v, dim=0)
                m.weight_u.copy_(u)
                m.weight_v.copy_(v)
    return model


def reference_forward(model, z: np.ndarray, y: np.ndarray, truncation: float) -> np.ndarray:
    """Reference images as NHWC numpy."""
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(np.asarray(z, np.float32)), torch.from_numpy(np.asarray(y, np.float32)),
                    truncation)  # fmt: skip
    return out.permute(0, 2, 3, 1).numpy()


def state_dict_numpy(model) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
