"""The first-login guided tour: shown until the learner finishes or skips it.

Dismissing it is recorded on the account (``User.tour_done``) by a request the page sends
as keepalive, so leaving the page at once does not cancel it. The page also sets a cookie
before sending it: a page rendered before that request has landed (the learner went on
at once) honours the cookie and shows no tour, and has the record sent again in case the
first request never arrived.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.accounts.models import User

COOKIE = "safece_tour_done"  # set by static/js/app.js to the id of who dismissed it

SHOW = "show"
UNSAVED = "unsaved"  # dismissed in this browser, not yet recorded on the account


def state(user: User | None, cookies: Mapping[str, str]) -> str | None:
    """What a page does about the tour for this user: SHOW it, re-send an UNSAVED
    dismissal, or nothing."""
    if user is None or user.tour_done:
        return None
    if cookies.get(COOKIE) == str(user.id):
        return UNSAVED
    return SHOW
