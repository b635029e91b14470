"""What the accounts area tells once a unit of work committed.

``SessionsEnded`` (a password changed or reissued, an account deactivated): every session
of the user ends, and every server process closes the sockets opened with them.
``RolesChanged``: the user's sockets reconnect, so that each namespace authorises them
against the new roles; their web sessions go on (each request reads the roles afresh).
"""

from __future__ import annotations

import dataclasses

from app import events
from app.accounts import sessions


@dataclasses.dataclass(frozen=True)
class SessionsEnded:
    user_id: int
    reason: str  # password_changed, password_reissued, deactivated


@dataclasses.dataclass(frozen=True)
class RolesChanged:
    user_id: int


@events.handles(SessionsEnded)
async def end_sessions(svc, ended: list[SessionsEnded]) -> None:
    """Sign the users out everywhere, sockets included."""
    for user_id in dict.fromkeys(e.user_id for e in ended):
        await sessions.revoke_all(svc.redis, user_id)


@events.handles(RolesChanged)
async def reauthorise_sockets(svc, changed: list[RolesChanged]) -> None:
    """Open sockets were authorised for the old roles: make them reconnect."""
    for user_id in dict.fromkeys(c.user_id for c in changed):
        await sessions.reconnect_sockets(svc.redis, user_id)
