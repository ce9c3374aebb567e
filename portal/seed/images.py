"""Demo product images: a picture per product in its first colour, made here (PNG written with
zlib, no imaging library), so the demo storefronts and catalog pages are not a wall of grey boxes.
Each is a soft vertical gradient of the colour with a lighter band where a garment would sit:
a placeholder that reads as "this product, in this colour", never a photo."""

from __future__ import annotations

import struct
import zlib

from sqlalchemy import select

from portal.catalog import services as catalog
from portal.catalog.models import Product, Variant
from portal.core.access import Actor
from portal.extensions import db

SIDE = 480
# The demo's colour codes and the colour each is shown in.
COLORS = {
    "BLK": (38, 38, 42),
    "WHT": (236, 234, 228),
    "NVY": (31, 45, 84),
    "GRY": (128, 130, 134),
    "OLV": (96, 104, 56),
    "RED": (170, 38, 44),
    "SND": (202, 182, 144),
    "IND": (45, 62, 110),
    "BRN": (110, 72, 44),
}
FALLBACK = (150, 120, 170)  # LUMI's shades and anything not named above


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def picture(rgb: tuple[int, int, int]) -> bytes:
    """A SIDE x SIDE PNG in `rgb`: darker at the bottom, with a lighter centre band."""
    left, right = int(SIDE * 0.28) + 1, int(SIDE * 0.72)
    rows = []
    for y in range(SIDE):
        shade = 1.1 - 0.25 * y / SIDE
        band = 1.12 if SIDE * 0.3 < y < SIDE * 0.75 else 1.0
        outer = bytes(min(255, int(c * shade)) for c in rgb)
        inner = bytes(min(255, int(c * shade * band + 18)) for c in rgb)
        # Filter byte 0 (none), then the row: plain, the lighter middle, plain.
        rows.append(b"\x00" + outer * left + inner * (right - left) + outer * (SIDE - right))
    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


def seed_images(brand_id: int) -> int:
    """Give each of the brand's products without an image one in its first colour."""
    products = list(
        db.session.execute(
            select(Product).where(Product.brand_id == brand_id, Product.image_path.is_(None))
        ).scalars()
    )
    if not products:
        return 0
    # The first colour of each product: later rows are overwritten by earlier ones.
    first_color: dict[int, str] = {}
    rows = db.session.execute(
        select(Variant.product_id, Variant.color)
        .where(Variant.product_id.in_([p.id for p in products]))
        .order_by(Variant.product_id, Variant.id.desc())
    ).all()
    for product_id, color in rows:
        first_color[product_id] = color
    made: dict[tuple[int, int, int], bytes] = {}
    for product in products:
        rgb = COLORS.get(first_color.get(product.id, ""), FALLBACK)
        data = made.setdefault(rgb, picture(rgb))
        catalog.set_product_image(Actor.system(), product, f"{product.code}.png", data)
    return len(products)
