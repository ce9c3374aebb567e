"""Domain errors and how they reach people: JSON under /api/, HTML pages everywhere else."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    """A rule said no. `code` is stable snake_case; `fields` names what was wrong."""

    code = "domain_error"
    status = 422
    message = "The request could not be completed."

    def __init__(
        self, message: str | None = None, *, fields: dict[str, str] | None = None, **extra: Any
    ) -> None:
        self.message = message or self.message
        self.fields = fields or {}
        self.extra = extra
        super().__init__(self.message)


class ValidationFailed(DomainError):
    code = "validation_error"
    message = "Some fields are not valid."


class NotFound(DomainError):
    code = "not_found"
    status = 404
    message = "Not found."


class PermissionDenied(DomainError):
    code = "forbidden"
    status = 403
    message = "Your role does not allow this."


class Conflict(DomainError):
    code = "conflict"
    status = 409
    message = "The request conflicts with the current state."


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401
    message = "Authentication required."


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "server_error",
}


def http_code_name(status: int) -> str:
    return _HTTP_CODES.get(status, f"http_{status}")


def _flatten(detail: Any, prefix: str = "") -> dict[str, str]:
    """Turn webargs/marshmallow nested messages into {"field.path": "message"}."""
    out: dict[str, str] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(isinstance(v, str) for v in detail):
            out[prefix or "_schema"] = " ".join(detail)
        else:
            for value in detail:
                out.update(_flatten(value, prefix))
    elif detail is not None:
        out[prefix or "_schema"] = str(detail)
    return out


def init_app(app: Flask) -> None:
    # APIFlask's own errors (request validation) take the same shape. Registered first:
    # registering a processor re-installs APIFlask's HTTPException handler, which ours replaces.
    @app.error_processor  # type: ignore[attr-defined]
    def api_error(error):
        fields = {}
        detail = getattr(error, "detail", None) or {}
        if isinstance(detail, dict):
            # {"json": {...}} / {"query": {...}}: the location is noise for a client.
            for _location, messages in detail.items():
                fields.update(_flatten(messages))
        status = error.status_code
        code = http_code_name(status)
        message = error.message
        if status == 422:
            message = "Some fields are not valid."
        body = error_body(code, message, fields)
        return body, status, error.headers

    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        if wants_json():
            body = error_body(error.code, error.message, error.fields)
            body["error"].update(error.extra)
            return jsonify(body), error.status
        return (
            render_template(
                "errors/error.html", status=error.status, message=error.message, fields=error.fields
            ),
            error.status,
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        if wants_json():
            response = jsonify(error_body(http_code_name(status), error.description or error.name))
            response.status_code = status
            for key, value in error.get_headers():
                if key.lower() != "content-type":
                    response.headers[key] = value
            return response
        return (
            render_template("errors/error.html", status=status, message=error.description),
            status,
        )
