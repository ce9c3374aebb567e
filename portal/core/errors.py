"""Domain errors and how they reach people: JSON under /api/, HTML pages everywhere else."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from portal.core import transaction


class PortalError(Exception):
    """An answer other than the one asked for. `code` is stable snake_case; `fields` names what
    was wrong. Two kinds, so that a page can catch the one it can explain on the spot:
    `DomainError` (a rule said no to this input: shown beside the form) and `AccessError` (who is
    asking may not: never caught by a page, always answered 401/403 by the handler below)."""

    code = "error"
    status = 422
    message = "The request could not be completed."

    def __init__(
        self, message: str | None = None, *, fields: dict[str, str] | None = None, **extra: Any
    ) -> None:
        self.message = message or self.message
        self.fields = fields or {}
        self.extra = extra
        super().__init__(self.message)


class DomainError(PortalError):
    """A rule said no."""

    code = "domain_error"


class AccessError(PortalError):
    """The caller may not do this, whatever the input."""

    code = "access_error"
    status = 403


class ValidationFailed(DomainError):
    code = "validation_error"
    message = "Some fields are not valid."


class NotFound(DomainError):
    code = "not_found"
    status = 404
    message = "Not found."


class PermissionDenied(AccessError):
    code = "forbidden"
    status = 403
    message = "Your role does not allow this."


class Conflict(DomainError):
    code = "conflict"
    status = 409
    message = "The request conflicts with the current state."


class Unauthorized(AccessError):
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


# A browser's page for each status: its title and what the person can do about it.
_PAGES = {
    400: (
        _l("Request refused"),
        _l("Something in the request cannot be accepted. Check what you entered and try again."),
    ),
    401: (_l("Sign-in required"), _l("Sign in to continue.")),
    403: (
        _l("Not allowed"),
        _l("Your role does not allow this. Ask an administrator of your organization."),
    ),
    404: (
        _l("Not found"),
        _l("This page does not exist, or it belongs to an organization you cannot see."),
    ),
    405: (
        _l("Not possible here"),
        _l("This address does not accept that kind of request. Go back and use the page's form."),
    ),
    409: (
        _l("Already changed"),
        _l("Someone changed this in the meantime. Reload the page and try again."),
    ),
    413: (
        _l("Too large"),
        _l("What you sent is larger than the portal accepts. Send a smaller file or less text."),
    ),
    422: (
        _l("Not valid"),
        _l("Some of what you entered is not valid. Correct the fields named below."),
    ),
    429: (
        _l("Too many attempts"),
        _l("Too many requests in a short time. Wait a minute, then try again."),
    ),
    500: (
        _l("Something went wrong"),
        _l("The portal failed to answer. It has been logged; please try again in a moment."),
    ),
}


def error_page(status: int, message: str | None = None, fields: dict[str, str] | None = None):
    """The HTML page for an error status, in the page's language."""
    title, sentence = _PAGES.get(status, _PAGES[500] if status >= 500 else _PAGES[400])
    return (
        render_template(
            "errors/error.html",
            status=status,
            title=title,
            sentence=sentence,
            message=message,
            fields=fields,
        ),
        status,
    )


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "description": "stable snake_case"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "what was wrong, by field (`lines.0.qty`)",
                },
            },
        }
    },
}

# Answers any operation may give, beside those it documents itself.
_COMMON_ERRORS = {
    "400": "A string with a NUL character or invalid Unicode (`fields` names it)",
    "401": "No valid bearer token",
    "403": "The caller's role does not allow this",
    "404": "Not found, or outside the caller's scope",
    "422": "A field is not valid (`fields` names it)",
    "429": "Too many requests",
}
_WRITE_ERRORS = {
    "409": "Conflicts with the current state",
    "413": "The body is larger than the portal accepts",
}


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Every error in the OpenAPI document has the one shape the API sends."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("Error", "HTTPError", "ValidationError"):
        schemas[name] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in spec.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            extra = dict(_COMMON_ERRORS)
            if method in ("post", "put", "patch", "delete"):
                extra.update(_WRITE_ERRORS)
            for status, description in extra.items():
                operation["responses"].setdefault(
                    status, {"description": description, "content": ref}
                )
    return spec


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

    app.spec_processor(document_errors)  # type: ignore[attr-defined]

    @app.errorhandler(PortalError)
    def handle_domain_error(error: PortalError):
        transaction.discard()  # the page's layout reads the database: not the failed attempt
        if wants_json():
            body = error_body(error.code, error.message, error.fields)
            body["error"].update(error.extra)
            return jsonify(body), error.status
        return error_page(error.status, error.message, error.fields)

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
        if status >= 500:
            transaction.discard()  # the page's layout reads the database; a failed one first
        # Werkzeug's stock descriptions are English only: the page's own sentence says it
        # instead. A reason given where it was raised (CSRF, the throttle's limit) is shown too.
        reason = error.description if error.description != type(error).description else None
        page, status = error_page(status, reason)
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return page, status, headers
