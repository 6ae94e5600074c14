"""Session fixtures shared by the biggan tests (imported by tests/fixtures.py)."""

from __future__ import annotations
