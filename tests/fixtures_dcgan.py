"""Session fixtures shared by the dcgan tests (imported by tests/fixtures.py)."""

from __future__ import annotations
