"""管理: every page under /admin, one module per subject, all on one blueprint
(`common.bp`). Each calls the owning area's services; nothing here holds a rule."""

from app.admin.routes import (  # noqa: F401 - each module adds its pages to the blueprint
    banks,
    batches,
    certificates,
    courses,
    exam_sessions,
    imports,
    learners,
    registration,
    reports,
    uploads,
)
from app.admin.routes.common import bp

__all__ = ["bp"]
