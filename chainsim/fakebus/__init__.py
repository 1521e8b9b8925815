"""The fake Genesys org: both dialects, OAuth, keyset paging, rate limits, scripted faults.

Split like moto: `state` (plain Python), `http` (one pure handler), `router` (respx,
in-process) and `server` (loopback HTTP) around one `FakeBus`.
"""

from chainsim.fakebus.bus import DEFAULT_API_HOST, DEFAULT_CLIENT, DEFAULT_LOGIN_HOST, FakeBus
from chainsim.fakebus.faults import FaultPlan
from chainsim.fakebus.http import RequestRecord

__all__ = [
    "DEFAULT_API_HOST",
    "DEFAULT_CLIENT",
    "DEFAULT_LOGIN_HOST",
    "FakeBus",
    "FaultPlan",
    "RequestRecord",
]
