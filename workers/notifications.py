"""Notification jobs: messages go out through the configured sender."""

from __future__ import annotations


async def send_sms(ctx: dict, to: str, text: str) -> None:
    """Send one SMS through the configured sender."""
    await ctx["svc"].sms.send(to, text)


async def send_mail(ctx: dict, to: str, subject: str, text: str) -> None:
    """Send one e-mail through the configured sender."""
    await ctx["svc"].mail.send(to, subject, text)
