"""chainsim: verify, simulate and safely deploy chains of event rules on Genesys Cloud.

Public names load lazily, so `import chainsim` stays cheap and never imports the
Genesys SDK (only the triggers dialect does, when it is used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ChainLink": "chainsim.model",
    "ChainPlan": "chainsim.model",
    "Event": "chainsim.model",
    "FakeBus": "chainsim.fakebus",
    "FaultPlan": "chainsim.fakebus.faults",
    "Finding": "chainsim.validate",
    "InputError": "chainsim.errors",
    "Orchestrator": "chainsim.apply",
    "Rule": "chainsim.model",
    "SystemClock": "chainsim.clock",
    "Trace": "chainsim.simulate",
    "ValidationReport": "chainsim.validate",
    "VirtualClock": "chainsim.clock",
    "simulate": "chainsim.simulate",
    "validate_chain": "chainsim.validate",
}

__all__ = [
    "ChainLink",
    "ChainPlan",
    "Event",
    "FakeBus",
    "FaultPlan",
    "Finding",
    "InputError",
    "Orchestrator",
    "Rule",
    "SystemClock",
    "Trace",
    "ValidationReport",
    "VirtualClock",
    "simulate",
    "validate_chain",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chainsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from chainsim.apply import Orchestrator
    from chainsim.clock import SystemClock, VirtualClock
    from chainsim.errors import InputError
    from chainsim.fakebus import FakeBus
    from chainsim.fakebus.faults import FaultPlan
    from chainsim.model import ChainLink, ChainPlan, Event, Rule
    from chainsim.simulate import Trace, simulate
    from chainsim.validate import Finding, ValidationReport, validate_chain
