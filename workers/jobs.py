"""The registry of arq jobs. Each area's jobs module appends its functions here."""

from __future__ import annotations

from workers.certificates import CRON_JOBS as CERTIFICATE_CRON_JOBS
from workers.certificates import FUNCTIONS as CERTIFICATE_FUNCTIONS
from workers.exams import CRON_JOBS as EXAM_CRON_JOBS
from workers.exams import sweep_exam_deadlines
from workers.imports import FUNCTIONS as IMPORT_FUNCTIONS
from workers.notifications import send_mail, send_sms
from workers.registration import CRON_JOBS as REGISTRATION_CRON_JOBS
from workers.registration import send_registration_reminders
from workers.reports import CRON_JOBS as REPORT_CRON_JOBS
from workers.reports import FUNCTIONS as REPORT_FUNCTIONS

FUNCTIONS: list = [
    send_sms,
    send_mail,
    send_registration_reminders,
    sweep_exam_deadlines,
    *IMPORT_FUNCTIONS,
    *CERTIFICATE_FUNCTIONS,
    *REPORT_FUNCTIONS,
]
CRON_JOBS: list = [
    *EXAM_CRON_JOBS,
    *CERTIFICATE_CRON_JOBS,
    *REGISTRATION_CRON_JOBS,
    *REPORT_CRON_JOBS,
]
