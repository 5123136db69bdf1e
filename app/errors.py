"""Errors a user can cause: a stable code, a plain message, an HTTP status.

Services raise these; the web layer turns them into a flash or an error page and the API
into `{"error": {"code", "message"}}`.
"""

from __future__ import annotations


class AppError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class NotFound(AppError):
    status = 404
    code = "not_found"


class PermissionDenied(AppError):
    status = 403
    code = "forbidden"


class Conflict(AppError):
    status = 409
    code = "conflict"


class ValidationFailed(AppError):
    status = 422
    code = "validation_error"


class TooManyAttempts(AppError):
    status = 429
    code = "too_many_attempts"
