"""Which local address aiortc offers as ICE candidate.

aioice never offers 127.0.0.1 and offers every other interface. The development SFU must be reachable
over loopback only (servers bind to 127.0.0.1 here), so its host candidates are replaced by the
configured address. aioice reads its module-level `get_host_addresses` when gathering; replacing it
is the only hook it has. Clients that gather on another interface (libwebrtc skips loopback) still
reach 127.0.0.1 through the kernel's local routing.
"""

from __future__ import annotations

import aioice.ice

_original = aioice.ice.get_host_addresses


def offer_only(address: str) -> None:
    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        if not address:
            return _original(use_ipv4, use_ipv6)
        return [address]

    aioice.ice.get_host_addresses = host_addresses
