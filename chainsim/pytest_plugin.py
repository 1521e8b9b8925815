"""chainsim's pytest plugin (entry point `pytest11`): options, fixtures, markers, report."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the `chainsim` option group."""
    group = parser.getgroup("chainsim", "chainsim certification")
    group.addoption(
        "--chainsim-bus",
        choices=("fake", "live"),
        default="fake",
        help="run scenarios on the embedded fake bus (default) or a live sandbox org",
    )
    group.addoption(
        "--chainsim-dialect",
        choices=("eventbridge", "triggers"),
        default="eventbridge",
        help="bus dialect: EventBridge rules over httpx, or Process Automation triggers",
    )
    group.addoption("--chainsim-env", default="mypurecloud.com", help="Genesys Cloud environment")
    group.addoption("--chainsim-api-host", default=None, help="override the API host URL")
    group.addoption("--chainsim-report", default=None, help="write the certification report here")


def pytest_configure(config: pytest.Config) -> None:
    """Declare chainsim's markers."""
    config.addinivalue_line("markers", "chainsim_live_safe: may run against a sandbox org")
    config.addinivalue_line("markers", "chainsim_fake_only: needs the fake bus (fault injection)")
