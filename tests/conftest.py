"""Shared test setup: every test runs in its own empty working directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cwd(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Run each test in a fresh directory: default paths (`.chainsim/`) never touch the repo."""
    workdir = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(workdir)
    return workdir
