"""Session fixtures shared by the style tests (imported by tests/fixtures.py)."""

from __future__ import annotations
