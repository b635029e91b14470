"""Phones and tablets: the exam is computer-only, study works anywhere."""

from __future__ import annotations

import functools
import ipaddress
import re

import ua_parser

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


@functools.lru_cache(maxsize=1024)
def describe(user_agent: str) -> str:
    """A user agent as people read it ("Chrome 156 · Windows 10"), by ua-parser's rules;
    the raw string when it names neither a browser nor a system it knows."""
    parsed = ua_parser.parse(user_agent)
    parts = []
    browser, system = parsed.user_agent, parsed.os
    if browser is not None and browser.family != "Other":
        parts.append(" ".join(filter(None, (browser.family, browser.major))))
    if system is not None and system.family != "Other":
        version = ".".join(filter(None, (system.major, system.minor)))
        parts.append(" ".join(filter(None, (system.family, version))))
    device = parsed.device
    if (
        device is not None
        and device.family not in ("Other", "Mac", "Spider")
        and is_mobile(user_agent)
    ):
        parts.append(device.family)
    return " · ".join(parts) or user_agent


def looks_like_address(text: str) -> bool:
    """Whether a word is an IP address (a join's detail starts with one)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
