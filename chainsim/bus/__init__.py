"""Bus clients: the `Bus` protocol and its errors (`base`), and each dialect's client.

A client is built by its dialect object (`chainsim.dialects.get_dialect(name).client`),
and a whole ready connection by `chainsim.session.open_session`.
"""

from __future__ import annotations

from chainsim.dialects import DIALECTS

__all__ = ["DIALECTS"]
