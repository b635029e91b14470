"""The registry of arq jobs. Each area's jobs module appends its functions here."""

from __future__ import annotations

from workers.notifications import send_sms

FUNCTIONS: list = [send_sms]
