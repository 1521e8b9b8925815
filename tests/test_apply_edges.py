"""Edge cases of chainsim.apply found by mutation testing (main tests: tests/test_apply.py)."""

from __future__ import annotations
