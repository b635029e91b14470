"""Who is on the other end of a request, behind a known number of proxies.

``X-Forwarded-For`` is a list each proxy appends to: the client's own entries come first
and can say anything. With ``hops`` proxies of our own in front (``SAFECE_TRUST_PROXY``),
the address the outermost of them saw is the ``hops``-th entry from the right; anything to
its left was written by the client. ``hops = 0`` trusts no header at all.
"""

from __future__ import annotations


def _from_right(values: list[str], hops: int) -> str | None:
    entries = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if hops <= 0 or len(entries) < hops:
        return None
    return entries[-hops]


def client_ip(remote_addr: str | None, forwarded_for: list[str], hops: int) -> str:
    """The client's address: the peer's, or the one our ``hops`` proxies vouch for."""
    return _from_right(forwarded_for, hops) or remote_addr or "unknown"


def is_https(scheme: str, forwarded_proto: list[str], hops: int) -> bool:
    """Whether the client reached us over HTTPS (as our outermost proxy says, if any)."""
    proto = _from_right(forwarded_proto, hops)
    return (proto or scheme).lower() == "https"
