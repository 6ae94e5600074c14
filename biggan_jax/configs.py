"""BigGAN-deep configurations, as data.

The numbers are those of the released TF-Hub modules ``deepmind/biggan-deep-*``
as transcribed by the PyTorch port (``pytorch_pretrained_biggan/
convert_tf_to_pytorch.py``: ``BigGAN128/256/512``) and Brock et al.,
"Large Scale GAN Training for High Fidelity Natural Image Synthesis",
arXiv:1809.11096, Table 8 (BigGAN-deep architectures).

``layers`` entries are ``(up_sample, in_mult, out_mult)``: a residual block
from ``in_mult * channel_width`` to ``out_mult * channel_width`` channels. The
self-attention block sits before ``layers[attention_layer_position]``.

Block names follow Janik, "Aesthetics and neural network image representations", Fig. 2: B1..B13 number the residual
blocks *and* the attention block in order (in the 256 model B9 is attention and
B2, B4, B6, B8, B11, B13 upsample). Block ``B{k}`` is the reference's
``generator.layers.{k-1}``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any
from neural_art.errors import UserError


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One entry of the generator's block list."""

    name: str  # "B1".."B13"
    kind: str  # "gblock" or "attention"
    up: bool
    in_ch: int
    out_ch: int

    @property
    def mid_ch(self) -> int:
        # GenBlock bottleneck: in_size // reduction_factor (4) in the reference.
        return self.in_ch // 4


@dataclasses.dataclass(frozen=True)
class BigGANConfig:
    """A BigGAN-deep generator. Frozen and hashable: usable as a jit static arg."""

    name: str
    output_dim: int
    layers: tuple[tuple[bool, int, int], ...]
    z_dim: int = 128
    class_embed_dim: int = 128
    channel_width: int = 128
    num_classes: int = 1000
    attention_layer_position: int = 8
    eps: float = 1e-4
    n_stats: int = 51

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(tuple(l) for l in self.layers))
        res = 4 * 2 ** sum(bool(l[0]) for l in self.layers)
        if res != self.output_dim:
            raise UserError(
                f"config {self.name!r}: layers upsample to {res}, output_dim is {self.output_dim}"
            )
        for i, (_, a, b) in enumerate(self.layers):
            if a != b and b * 2 != a:
                raise UserError(
                    f"config {self.name!r}: layer {i} goes {a}->{b} channel multiples; BigGAN-deep "
                    "only keeps or halves channels (it drops the second half of the shortcut)"
                )
        if self.class_embed_dim != self.z_dim:
            raise UserError(
                "BigGAN-deep conditions on [z, embed(y)] with equal sizes (z_dim == class_embed_dim)"
            )

    @property
    def cond_dim(self) -> int:
        return self.z_dim + self.class_embed_dim

    def blocks(self) -> tuple[BlockSpec, ...]:
        """The generator's blocks in order, named B1..Bn (Janik's Fig. 2 numbering)."""
        ch = self.channel_width
        specs: list[BlockSpec] = []
        for i, (up, a, b) in enumerate(self.layers):
            if i == self.attention_layer_position:
                specs.append(BlockSpec(f"B{len(specs) + 1}", "attention", False, ch * a, ch * a))
            specs.append(BlockSpec(f"B{len(specs) + 1}", "gblock", bool(up), ch * a, ch * b))
        return tuple(specs)

    @property
    def block_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.blocks())

    def to_hf_dict(self) -> dict[str, Any]:
        """The reference's ``config.json`` fields."""
        return {
            "output_dim": self.output_dim,
            "z_dim": self.z_dim,
            "class_embed_dim": self.class_embed_dim,
            "channel_width": self.channel_width,
            "num_classes": self.num_classes,
            "layers": [list(l) for l in self.layers],
            "attention_layer_position": self.attention_layer_position,
            "eps": self.eps,
            "n_stats": self.n_stats,
        }

    @classmethod
    def from_hf_dict(cls, d: dict[str, Any], name: str = "custom") -> BigGANConfig:
        """From the reference's ``config.json`` dict (unknown keys are an error)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"name"}
        extra = set(d) - known
        if extra:
            raise UserError(
                f"unknown BigGAN config field(s) {sorted(extra)}; known: {sorted(known)}"
            )
        return cls(
            name=name, **{k: (tuple(map(tuple, v)) if k == "layers" else v) for k, v in d.items()}
        )

    def replace(self, **kw) -> BigGANConfig:
        return dataclasses.replace(self, **kw)


_L128 = (
    (False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8),
    (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1),
)  # fmt: skip
_L256 = (
    (False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8), (True, 8, 8),
    (False, 8, 8), (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1),
)  # fmt: skip
_L512 = _L256 + ((False, 1, 1), (True, 1, 1))

BIGGAN_DEEP_128 = BigGANConfig("biggan-deep-128", 128, _L128)
BIGGAN_DEEP_256 = BigGANConfig("biggan-deep-256", 256, _L256)
BIGGAN_DEEP_512 = BigGANConfig("biggan-deep-512", 512, _L512)

CONFIGS: dict[str, BigGANConfig] = {
    c.name: c for c in (BIGGAN_DEEP_128, BIGGAN_DEEP_256, BIGGAN_DEEP_512)
}


def get_config(name: str) -> BigGANConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise UserError(f"unknown BigGAN config {name!r}; known: {sorted(CONFIGS)}") from None


def read_config(path: str | os.PathLike, name: str = "custom") -> BigGANConfig:
    """A reference ``config.json`` (``pytorch_pretrained_biggan``) as a config."""
    with open(path, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: not valid JSON: {e}") from e
    try:
        return BigGANConfig.from_hf_dict(d, name=name)
    except (TypeError, ValueError) as e:
        raise UserError(f"{path}: not a BigGAN-deep config: {e}") from e
