"""One transaction per request: the request ends it, once, in one place.

Views, API routes and services never commit or roll back. When a route has answered, a response
below 400 commits what the request wrote (then inline mode runs the jobs it enqueued); a 4xx or
5xx response, or an exception, rolls it back. Jobs have the same shape in `core.jobs`: the runner
commits after the job function returns and rolls back if it raises.

Two calls let a route say more than its status can:

- `discard()`: a route that caught a `DomainError` and answers with a page or a redirect undoes
  the failed attempt at once, so what it renders, and anything it writes next, starts clean.
- `keep()`: the error answer is itself a record that must last (a counted failed sign-in, the
  stored answer of an idempotency key), so the request's writes commit whatever the status.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, g

from portal.extensions import db

_KEEP = "portal_tx_keep"


def discard() -> None:
    """Undo everything this request wrote so far (a caught domain error)."""
    db.session.rollback()
    g.pop(_KEEP, None)


def keep() -> None:
    """Commit this request's writes at the end even if its answer is an error."""
    g.setdefault(_KEEP, True)


def init_app(app: Flask, *, after_commit: Callable[[], None]) -> None:
    """`after_commit` runs once the request has committed (inline mode's waiting jobs)."""

    @app.after_request
    def finish(response: Response) -> Response:
        if response.status_code < 400 or g.pop(_KEEP, False):
            db.session.commit()
            after_commit()
        else:
            db.session.rollback()
        return response
