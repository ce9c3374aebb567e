"""QR codes and posters of a guide's link (portal/guides/qr.py)."""

from __future__ import annotations

import io

from portal.guides import qr

URL = "https://shop.example.test/shop/ACME/g/abc.def"


def _poster(**changes) -> qr.Poster:
    values = dict(
        url=URL,
        color="#b91c1c",
        brand=qr.Text("ACME 服饰", "ACME"),
        title=qr.Text("黑色T恤", "TEE-BLK"),
        price=qr.Text("¥199.00", "CNY 199.00"),
        guide_code="AB3K7Q",
        caption=qr.Text("扫码购买", "Scan to shop"),
        code_label=qr.Text("导购码", "Guide code"),
    )
    values.update(changes)
    return qr.Poster(**values)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_qr_png_is_a_png_that_grows_with_the_scale():
    small, large = qr.qr_png(URL, scale=2), qr.qr_png(URL, scale=8)
    assert _png_size(large)[0] == 4 * _png_size(small)[0]


def test_qr_svg_is_an_svg_document_with_its_title():
    svg = qr.qr_svg(URL, title="Guide AB3K7Q")
    assert "<svg" in svg and "</svg>" in svg
    assert "Guide AB3K7Q" in svg


def test_svg_poster_carries_the_texts_as_given_and_the_qr_code():
    svg = qr.poster_svg(_poster())
    assert svg.startswith("<?xml")
    for text in ("ACME 服饰", "黑色T恤", "¥199.00", "AB3K7Q", "扫码购买"):
        assert text in svg
    assert "data:image/png;base64," in svg  # the QR code, embedded: the file stands alone


def test_svg_poster_escapes_what_it_is_given():
    svg = qr.poster_svg(_poster(title=qr.Text('<script>"x"</script>', "X")))
    assert "<script>" not in svg


def test_dark_ink_on_a_light_brand_colour_and_light_ink_on_a_dark_one():
    assert qr._ink("#ffffff") == "#111111"
    assert qr._ink("#1f2937") == "#ffffff"


def test_png_poster_without_a_font_draws_the_ascii_stand_ins():
    from PIL import Image

    data = qr.poster_png(_poster())
    assert _png_size(data) == (qr.POSTER_WIDTH, qr.POSTER_HEIGHT)
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    assert picture.getpixel((5, 5)) == (0xB9, 0x1C, 0x1C)  # the brand's colour


def test_png_poster_places_the_product_picture():
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 40), (0, 128, 0)).save(out, format="PNG")
    data = qr.poster_png(_poster(image=out.getvalue()))
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    assert picture.getpixel((qr.POSTER_WIDTH // 2, 130 + 300)) == (0, 128, 0)


def test_a_text_without_a_font_falls_back_to_its_ascii_stand_in():
    assert qr.Text("导购码", "Guide code").plain(False) == "Guide code"
    assert qr.Text("导购码", "Guide code").plain(True) == "导购码"
