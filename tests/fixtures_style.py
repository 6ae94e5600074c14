"""Session fixtures shared by the style tests (imported by tests/fixtures.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_vgg19_net(tiny_vgg19):
    """``styletransfer.transfer.Net`` of the session's tiny VGG-19 (width 8), features
    only (as ``styletransfer.pipeline`` loads it): one set of compiled style-transfer
    programs for every test that optimises at the same size and settings."""
    from styletransfer import transfer

    cfg, params = tiny_vgg19
    return transfer.Net(cfg, {k: v for k, v in params.items() if not k.startswith("fc")})
