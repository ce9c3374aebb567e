"""A guide's shared link (and the QR code of it): `/shop/<brand>/g/<token>`, where the token is
signed with the app's secret (itsdangerous, salt "guide-link") and carries the guide's code, what
the link opens (`LinkTarget`) and its reference (a product's code, a store's code, a private
sale's code, a coupon's share code). Anyone can read a token; nobody can make or change one
without the secret, so a forged or altered link, or one older than GUIDE_LINK_DAYS (default 30),
reads as nothing and attributes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from portal.guides.models import Guide, LinkTarget

SALT = "guide-link"
MAX_REF = 64  # GuideVisit.ref
MAX_TOKEN = 400  # far above what make_token writes: anything longer is no token of ours


@dataclass(frozen=True)
class LinkClaim:
    """What a correctly signed, unexpired token says."""

    guide_code: str
    target: str
    ref: str
    issued_at: datetime


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def link_days() -> int:
    return int(current_app.config.get("GUIDE_LINK_DAYS", 30))


def make_token(guide: Guide, target: str, ref: str = "") -> str:
    """A signed token for the guide's link to `target` (a LinkTarget) with `ref`. Raises
    ValueError for an unknown target or a reference over 64 characters (the caller checks what
    a guide typed before)."""
    if target not in tuple(LinkTarget):
        raise ValueError(f"unknown link target {target!r}")
    if len(ref) > MAX_REF:
        raise ValueError("a link's reference is at most 64 characters")
    return str(_serializer().dumps({"g": guide.code, "t": str(target), "r": ref}))


def read_token(token: str) -> LinkClaim | None:
    """What the token says, or None when it is forged, altered, expired or not one of ours."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        return None
    try:
        data, signed_at = _serializer().loads(
            token, max_age=link_days() * 86400, return_timestamp=True
        )
    except (BadData, ValueError, TypeError):
        return None
    return _claim(data, signed_at)


def _claim(data: Any, signed_at: datetime) -> LinkClaim | None:
    if not isinstance(data, dict):
        return None
    code, target, ref = data.get("g"), data.get("t"), data.get("r", "")
    if not isinstance(code, str) or not code or not isinstance(ref, str) or len(ref) > MAX_REF:
        return None
    if target not in tuple(LinkTarget):
        return None
    issued = signed_at if signed_at.tzinfo else signed_at.replace(tzinfo=UTC)
    return LinkClaim(guide_code=code, target=str(target), ref=ref, issued_at=issued)


def share_url(brand_code: str, token: str) -> str:
    """The absolute address to share (PUBLIC_BASE_URL + /shop/<brand>/g/<token>)."""
    # Built by hand, not url_for: a job or the CLI (no request, no SERVER_NAME) shares too.
    path = f"/shop/{quote(brand_code, safe='')}/g/{quote(token, safe='')}"
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path
