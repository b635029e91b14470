"""The states of a certificate in the issuing job, their labels, and which are settled:
the one vocabulary pages, exports and the worker use."""

from __future__ import annotations

import enum


class CertificateState(enum.StrEnum):
    QUEUED = "queued"  # waiting for the worker
    RENDERING = "rendering"  # a job holds it until lease_until
    ISSUED = "issued"
    NEEDS_PHOTO = "needs_photo"  # the learner must upload an ID photo first
    FAILED = "failed"  # the last try failed; retried with backoff, then left to an admin
    REVOKED = "revoked"


# Settled: issuing has nothing left to do (an issued or a revoked certificate).
DONE = (CertificateState.ISSUED, CertificateState.REVOKED)

STATE_LABELS = {
    CertificateState.QUEUED: "生成中",
    CertificateState.RENDERING: "生成中",
    CertificateState.ISSUED: "已发放",
    CertificateState.NEEDS_PHOTO: "待上传照片",
    CertificateState.FAILED: "生成失败",
    CertificateState.REVOKED: "已撤销",
}
