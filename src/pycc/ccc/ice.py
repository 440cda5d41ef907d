"""Which of this machine's addresses pycc offers browsers as ICE host candidates.

aiortc gathers its candidates through aioice, which offers every interface address except
the loopback ones (RFC 8445 §5.1.1.1 lets an agent leave them out). A switch that its agents
reach through one address (a public one, a VPN's) should offer only that one; and a machine
with nothing but loopback (a test box, a container without a network) would offer nothing,
so the browsers on it could never connect. `offer_addresses` sets the list; an empty list
keeps aioice's own choice, with 127.0.0.1 added when that choice is empty.

aioice has no setting for this, so its module function is replaced, for the whole process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aioice.ice

__all__ = ["host_addresses", "offer_addresses"]

_ORIGINAL: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
_chosen: list[str] = []


def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """The addresses ICE gathers host candidates on (aioice's signature)."""
    if _chosen:
        return [a for a in _chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]
    found = _ORIGINAL(use_ipv4, use_ipv6)
    return found or (["127.0.0.1"] if use_ipv4 else ["::1"] if use_ipv6 else [])


def offer_addresses(addresses: Sequence[str] = ()) -> None:
    """Offer ``addresses`` (IP literals) from now on; none: aioice's choice or loopback."""
    _chosen[:] = [a.strip() for a in addresses if a.strip()]
    aioice.ice.get_host_addresses = host_addresses
