"""Tests of chainsim.converge: one rule PUT converging under 409s, late answers and deadlines."""

from __future__ import annotations
