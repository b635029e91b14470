"""One error type with a stable code, rendered as a Chinese page or as JSON."""

from __future__ import annotations

import redis.exceptions
import sqlalchemy.exc

# Redis or the database cannot be reached (restarting, locked): a moment's wait, not a bug.
# Pages answer 503 ``busy``, socket events ``{"code": "busy"}``; the page tries again.
STORES_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    sqlalchemy.exc.OperationalError,
)
BUSY_MESSAGE = "系统繁忙，请稍后再试"


class AppError(Exception):
    """A refusal the user should see: a stable code, a Chinese message, an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, **self.details}


class NotFound(AppError):
    def __init__(self, message: str = "您访问的页面不存在") -> None:
        super().__init__("not_found", message, 404)


class Forbidden(AppError):
    def __init__(self, message: str = "您没有权限访问该页面") -> None:
        super().__init__("forbidden", message, 403)


class Invalid(AppError):
    """Bad form input: one Chinese message per field, shown next to that field."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("invalid", "；".join(fields.values()), 400, fields=fields)
        self.fields = fields
