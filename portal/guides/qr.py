"""QR codes and posters for a guide's share links.

A QR code is made with segno, which writes PNG and SVG itself. A poster is a phone-sized
picture to send in a chat: the brand's colour, the product's picture when there is one, a title,
the price, the guide's code and the QR code.

- The SVG poster needs nothing installed: its text is drawn by whoever opens it, so Chinese
  shows wherever the viewer has a Chinese font.
- The PNG poster (what WeChat shows inline) is drawn with Pillow, text included: with
  config `POSTER_FONT_PATH` (a TrueType/OpenType font, e.g. Noto Sans CJK) any text; without
  one, Pillow's built-in Latin font, so each text that is not plain ASCII is replaced by its
  ASCII stand-in (the brand's code for its name, the product's code for its name, digits for
  the price).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import segno

POSTER_WIDTH = 750
POSTER_HEIGHT = 1334
QR_ERROR = "m"  # 15% may be damaged or covered: a phone screen photo still scans


def qr_png(url: str, *, scale: int = 8, border: int = 2) -> bytes:
    """The QR code for `url` as PNG bytes."""
    out = io.BytesIO()
    segno.make(url, error=QR_ERROR).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def qr_svg(url: str, *, scale: int = 8, border: int = 2, title: str = "") -> str:
    """The QR code for `url` as a standalone SVG document."""
    out = io.BytesIO()
    options: dict[str, Any] = {"kind": "svg", "scale": scale, "border": border}
    if title:
        options["title"] = title
    segno.make(url, error=QR_ERROR).save(out, **options)
    return out.getvalue().decode("utf-8")


@dataclass(frozen=True)
class Text:
    """A text for a poster, and what a PNG poster without a configured font shows instead."""

    value: str
    ascii: str = ""

    def plain(self, any_script: bool) -> str:
        if any_script or self.value.isascii():
            return self.value
        return self.ascii


@dataclass(frozen=True)
class Poster:
    url: str  # what the QR code opens (the guide's signed share link)
    color: str  # "#rrggbb": the brand's primary colour
    brand: Text
    title: Text  # the product's or the store's name; empty for the brand's home
    price: Text  # "¥199.00" and "CNY 199.00"; empty when there is no price
    guide_code: str
    caption: Text  # "Scan to shop", in the page's language
    code_label: Text  # "Guide code", in the page's language
    image: bytes | None = None  # the product's picture (PNG, JPEG or WebP), if any
    image_type: str = "image/png"


def _rgb(color: str) -> tuple[int, int, int]:
    try:
        return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)
    except (ValueError, IndexError):
        return 31, 41, 55


def _ink(color: str) -> str:
    """Black or white, whichever reads better on `color` (relative luminance)."""
    red, green, blue = _rgb(color)
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "#111111" if luminance > 150 else "#ffffff"


# -- SVG -----------------------------------------------------------------------------------------


def poster_svg(poster: Poster) -> str:
    """The poster as an SVG document, pictures embedded, so the saved file stands alone."""
    width, height = POSTER_WIDTH, POSTER_HEIGHT
    ink = _ink(poster.color)
    font = "font-family=\"'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif\""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f"<title>{escape(poster.brand.value)}</title>",
        f'<rect width="{width}" height="{height}" fill={quoteattr(poster.color)}/>',
        f'<text x="{width // 2}" y="90" text-anchor="middle" font-size="44" font-weight="bold" '
        f"fill={quoteattr(ink)} {font}>{escape(poster.brand.value)}</text>",
    ]
    top = 130
    if poster.image:
        data = base64.b64encode(poster.image).decode("ascii")
        parts.append(f'<rect x="75" y="{top}" width="600" height="600" rx="24" fill="#ffffff"/>')
        parts.append(
            f'<image x="95" y="{top + 20}" width="560" height="560" '
            f'preserveAspectRatio="xMidYMid meet" href="data:{poster.image_type};base64,{data}"/>'
        )
        top += 640
    else:
        top += 40
    if poster.title.value:
        parts.append(
            f'<text x="{width // 2}" y="{top + 20}" text-anchor="middle" font-size="36" '
            f"fill={quoteattr(ink)} {font}>{escape(poster.title.value)}</text>"
        )
        top += 70
    if poster.price.value:
        parts.append(
            f'<text x="{width // 2}" y="{top + 20}" text-anchor="middle" font-size="48" '
            f'font-weight="bold" fill={quoteattr(ink)} {font}>{escape(poster.price.value)}</text>'
        )
        top += 70
    box = 300
    qr_top = max(top, height - box - 190)
    qr = base64.b64encode(qr_png(poster.url, scale=10, border=2)).decode("ascii")
    left = (width - box) // 2
    parts += [
        f'<rect x="{left - 20}" y="{qr_top - 20}" width="{box + 40}" height="{box + 120}" '
        'rx="20" fill="#ffffff"/>',
        f'<image x="{left}" y="{qr_top}" width="{box}" height="{box}" '
        f'href="data:image/png;base64,{qr}"/>',
        f'<text x="{width // 2}" y="{qr_top + box + 40}" text-anchor="middle" font-size="26" '
        f'fill="#111111" {font}>{escape(poster.caption.value)}</text>',
        f'<text x="{width // 2}" y="{qr_top + box + 80}" text-anchor="middle" font-size="30" '
        f'font-weight="bold" fill="#111111" {font}>'
        f"{escape(poster.code_label.value)} {escape(poster.guide_code)}</text>",
        "</svg>",
    ]
    return "\n".join(parts)


# -- PNG (Pillow) --------------------------------------------------------------------------------


def poster_png(poster: Poster, *, font_path: str | None = None) -> bytes:
    """The poster as PNG bytes. `font_path`: a font with the glyphs the texts need (config
    POSTER_FONT_PATH); without it, texts not in plain ASCII show their ASCII stand-ins."""
    from PIL import Image, ImageDraw, ImageFont  # here: only PNG posters load Pillow

    def font(size: int) -> Any:
        if font_path:
            return ImageFont.truetype(font_path, size)
        return ImageFont.load_default(size)

    any_script = bool(font_path)
    width, height = POSTER_WIDTH, POSTER_HEIGHT
    ink = _ink(poster.color)
    canvas = Image.new("RGB", (width, height), _rgb(poster.color))
    draw = ImageDraw.Draw(canvas)

    def centred(text: str, y: int, size: int, fill: str) -> None:
        if text:
            draw.text((width // 2, y), text, font=font(size), fill=fill, anchor="mm")

    centred(poster.brand.plain(any_script), 80, 44, ink)
    top = 130
    picture = _picture(Image, poster.image)
    if picture is not None:
        draw.rounded_rectangle((75, top, 675, top + 600), radius=24, fill="#ffffff")
        picture.thumbnail((560, 560))
        canvas.paste(
            picture, (95 + (560 - picture.width) // 2, top + 20 + (560 - picture.height) // 2)
        )
        top += 640
    else:
        top += 40
    title = poster.title.plain(any_script)
    if title:
        centred(title, top + 10, 36, ink)
        top += 70
    price = poster.price.plain(any_script)
    if price:
        centred(price, top + 10, 48, ink)
        top += 70
    box = 300
    qr_top = max(top, height - box - 190)
    left = (width - box) // 2
    draw.rounded_rectangle(
        (left - 20, qr_top - 20, left + box + 20, qr_top + box + 100), radius=20, fill="#ffffff"
    )
    code = Image.open(io.BytesIO(qr_png(poster.url, scale=10, border=2))).convert("RGB")
    canvas.paste(code.resize((box, box), Image.Resampling.NEAREST), (left, qr_top))
    centred(poster.caption.plain(any_script), qr_top + box + 30, 26, "#111111")
    label = poster.code_label.plain(any_script)
    centred(f"{label} {poster.guide_code}".strip(), qr_top + box + 70, 30, "#111111")
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _picture(image_module: Any, data: bytes | None) -> Any:
    """The product picture as an RGB image, or None when there is none or it does not open."""
    if not data:
        return None
    try:
        picture = image_module.open(io.BytesIO(data))
        picture.load()
    except (OSError, ValueError, image_module.DecompressionBombError):
        return None
    if picture.mode in ("RGBA", "LA", "P"):
        background = image_module.new("RGB", picture.size, (255, 255, 255))
        rgba = picture.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return picture.convert("RGB")
