"""The roles a person may hold; one person may hold several."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    LEARNER = "learner"
    INVIGILATOR = "invigilator"
    ADMIN = "admin"
    REVIEWER = "reviewer"
    FINAL_REVIEWER = "final_reviewer"
    REGISTRANT = "registrant"


ROLE_LABELS = {
    Role.LEARNER: "学员",
    Role.INVIGILATOR: "监考员",
    Role.ADMIN: "管理员",
    Role.REVIEWER: "注册初审",
    Role.FINAL_REVIEWER: "注册终审",
    Role.REGISTRANT: "注册申请人",
}
