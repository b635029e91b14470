"""注册管理 pages: the applicant's (`applicant`, `steps`), sign-in and passwords (`access`),
and the reviewers' queue (`review`). The admin pages are in app/admin/routes/registration.py."""

from app.registration.routes import applicant, steps  # noqa: F401 - pages on common.bp
from app.registration.routes.access import bp as access_bp
from app.registration.routes.common import bp
from app.registration.routes.review import bp as review_bp

blueprints = (bp, access_bp, review_bp)
