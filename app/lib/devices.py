"""Phones and tablets: the exam is computer-only, study works anywhere."""

from __future__ import annotations

import re

COMPUTER_ONLY = "学员只能使用电脑参加考试，不能使用手机、平板电脑（iPad）等移动设备。"
# Phones and tablets announce themselves in the user agent; iPadOS Safari does not (it
# claims to be a Mac), so the exam page also checks for a touch-only Mac in the browser.
MOBILE_UA = re.compile(
    r"Mobile|Android|iPhone|iPad|iPod|HarmonyOS|OpenHarmony|Windows Phone|BlackBerry|Tablet|Kindle|Silk",
    re.IGNORECASE,
)


def is_mobile(user_agent: str | None) -> bool:
    """Whether a user agent is a phone or tablet."""
    return bool(MOBILE_UA.search(user_agent or ""))
