"""The curated public API."""

import subprocess
import sys

import chainsim


def test_all_is_sorted_and_complete() -> None:
    """`__all__` is sorted and names every public attribute exactly once."""
    assert chainsim.__all__ == sorted(chainsim.__all__)
    assert set(chainsim.__all__) == set(chainsim._EXPORTS)
    assert len(set(chainsim.__all__)) == len(chainsim.__all__)
    required = {
        "Rule",
        "ChainLink",
        "ChainPlan",
        "Event",
        "validate_chain",
        "ValidationReport",
        "Finding",
        "simulate",
        "Trace",
        "Orchestrator",
        "FakeBus",
        "FaultPlan",
        "VirtualClock",
        "SystemClock",
    }
    assert required <= set(chainsim.__all__)


def test_every_public_name_resolves() -> None:
    """Each name in `__all__` imports."""
    for name in chainsim.__all__:
        assert getattr(chainsim, name) is not None


def test_import_does_not_load_the_sdk() -> None:
    """`import chainsim` and its public names never import the Genesys SDK."""
    code = (
        "import sys, chainsim\n"
        "[getattr(chainsim, n) for n in chainsim.__all__]\n"
        "import chainsim.cli\n"
        "assert 'PureCloudPlatformClientV2' not in sys.modules, 'SDK imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
