"""A brand's shop look (title, two colours, a logo) and the stylesheet made from it: the CSP
allows no inline style, so the colours reach the pages as `/shop/<brand>/theme.css`."""

from __future__ import annotations

import re
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from portal.core import audit
from portal.core.access import Actor, Permission
from portal.core.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.network.models import Organization
from portal.storefront.models import StorefrontSettings

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_PRIMARY = "#1f2937"
DEFAULT_ACCENT = "#b91c1c"


def find_look(brand_id: int) -> StorefrontSettings | None:
    """The brand's look: the shops are public, so any visitor of the brand's shop reads it."""
    return db.session.execute(
        select(StorefrontSettings).where(StorefrontSettings.brand_id == brand_id)
    ).scalar_one_or_none()


def set_look(
    actor: Actor,
    brand_id: int,
    *,
    title: str = "",
    primary_color: str = DEFAULT_PRIMARY,
    accent_color: str = DEFAULT_ACCENT,
    logo_path: str | None = None,
) -> StorefrontSettings:
    """HQ sets its shops' title, colours (#rrggbb) and logo (a path under instance/)."""
    if not (actor.is_system or (actor.is_hq and actor.org_id == brand_id)):
        raise NotFound()
    actor.ensure(Permission.CATALOG_MANAGE)
    errors = {
        name: "A colour is written #rrggbb."
        for name, value in (("primary_color", primary_color), ("accent_color", accent_color))
        if not COLOR_RE.match(value or "")
    }
    if logo_path and (".." in Path(logo_path).parts or Path(logo_path).is_absolute()):
        errors["logo_path"] = "The logo is a path inside the instance folder."
    if len(title) > 120:
        errors["title"] = "At most 120 characters."
    if errors:
        raise ValidationFailed(fields=errors)
    look = find_look(brand_id) or StorefrontSettings(brand_id=brand_id)
    look.title = title.strip()
    look.primary_color, look.accent_color = primary_color.lower(), accent_color.lower()
    look.logo_path = logo_path or None
    db.session.add(look)
    db.session.flush()
    audit.record(actor, "storefront.look_set", brand_id=brand_id)
    return look


def shop_title(brand: Organization, look: StorefrontSettings | None) -> str:
    return (look.title if look is not None and look.title else "") or brand.name


def theme_css(look: StorefrontSettings | None) -> str:
    """The brand's colours as CSS custom properties; a colour that is not #rrggbb is never
    written out (it could close the rule and add its own)."""
    primary = DEFAULT_PRIMARY
    accent = DEFAULT_ACCENT
    if look is not None:
        primary = look.primary_color if COLOR_RE.match(look.primary_color) else primary
        accent = look.accent_color if COLOR_RE.match(look.accent_color) else accent
    return (
        "body.shop {\n"
        f"  --shop-primary: {primary};\n"
        f"  --shop-accent: {accent};\n"
        f"  --pico-primary: {primary};\n"
        f"  --pico-primary-background: {primary};\n"
        f"  --pico-primary-border: {primary};\n"
        "}\n"
        ".shop-header { border-bottom: 3px solid var(--shop-accent); }\n"
        ".shop-price { color: var(--shop-accent); }\n"
    )


def logo_file(look: StorefrontSettings | None) -> Path | None:
    if look is None or not look.logo_path:
        return None
    return Path(current_app.instance_path) / look.logo_path
