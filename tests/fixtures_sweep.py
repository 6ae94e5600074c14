"""Session fixtures shared by the sweep tests (imported by tests/fixtures.py)."""

from __future__ import annotations
