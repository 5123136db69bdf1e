"""Error responses: JSON `{"error": {...}}` under /api/, an HTML page elsewhere."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.errors import AppError
from app.extensions import db

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
              415: "unsupported_media_type", 422: "validation_error", 429: "too_many_requests",
              500: "internal_error", 503: "unavailable"}


def _wants_json() -> bool:
    return request.path.startswith("/api/") and not request.path.startswith("/api/v1/docs")


def error_response(status: int, code: str, message: str, fields: dict | None = None,
                   headers: dict | None = None):
    if _wants_json():
        body = {"code": code, "message": message}
        if fields:
            body["fields"] = fields
        response = jsonify(error=body)
    else:
        response = render_template("errors/error.html", status=status, code=code, message=message)
    return response, status, headers or {}


def _validation_fields(error: HTTPException) -> dict:
    """webargs puts per-location messages in `error.data["messages"]`."""
    messages = getattr(error, "data", {}).get("messages") or {}
    fields: dict = {}
    for location_messages in messages.values():
        if isinstance(location_messages, dict):
            fields.update(location_messages)
        else:
            fields["_body"] = location_messages
    return fields


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def app_error(error: AppError):
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return error_response(error.status, error.code, error.message, error.fields, headers)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return error_response(400, "csrf_failed",
                              "This form expired or was sent from another site. Reload the page "
                              "and try again; nothing was changed.")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        fields = _validation_fields(error)
        if fields.get("json") or (status == 400 and "Invalid JSON" in str(fields)):
            return error_response(400, "malformed_json", "The request body is not valid JSON.")
        if status == 422:
            return error_response(422, "validation_error",
                                  "Some fields are missing or not valid; see `fields`.", fields)
        # Keep what the exception says about itself, e.g. the `Allow` a 405 must carry.
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return error_response(status, HTTP_CODES.get(status, "http_error"),
                              error.description or error.name, headers=headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        # A failed statement leaves PostgreSQL's transaction aborted; the error page itself
        # queries (the workspace switcher), so start it on a clean transaction.
        db.session.rollback()
        return error_response(500, "internal_error",
                              "Something went wrong on our side; it has been logged.")
