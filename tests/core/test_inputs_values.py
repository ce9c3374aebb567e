"""Values a view reads itself (portal/core/inputs.py): a day from a query string, and form data
whose bad characters answer 400 however the view reads them."""

from __future__ import annotations

from datetime import date

import pytest
from werkzeug.datastructures import ImmutableMultiDict

from portal.core.errors import ValidationFailed
from portal.core.inputs import BadInput, GuardedForm, parse_day


@pytest.fixture
def page(app):
    """A page's request: the messages are the page's, in its language."""
    with app.test_request_context("/orders"):
        yield


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2031-03-01", date(2031, 3, 1)),
        (" 2031-3-1 ", date(2031, 3, 1)),
        ("1900-01-01", date(1900, 1, 1)),
        ("9000-12-31", date(9000, 12, 31)),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_a_day_is_read_or_left_out_when_empty(page, text, day):
    assert parse_day(text, field="since") == day


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2031-02-30",
        "2031-13-01",
        "0000-01-01",
        "1899-12-31",
        "9001-01-01",
        "9999-12-31",
        "20310301",
        "2031-03-01T10:00",
        "31-03-2031",
        "２０３１-03-01",
    ],
)
def test_anything_else_is_refused_naming_the_field(page, text):
    with pytest.raises(ValidationFailed) as refused:
        parse_day(text, field="until")
    assert refused.value.fields == {
        "until": "must be a date written YYYY-MM-DD, between 1900-01-01 and 9000-12-31"
    }
    assert "until" in refused.value.message and text.strip()[:20] in refused.value.message


def test_a_guarded_form_refuses_the_bad_field_however_it_is_read(page):
    form = GuardedForm(
        ImmutableMultiDict([("name", "ok"), ("note", "a\x00b")]), {"note": "bad characters"}
    )
    assert form.get("name") == "ok" and form["name"] == "ok"
    assert form.get("missing", "default") == "default"
    for read in (
        lambda: form["note"],
        lambda: form.get("note"),
        lambda: form.get("note", type=str),
        lambda: form.getlist("note"),
        lambda: form.to_dict(),
        lambda: form.to_dict(flat=False),
    ):
        with pytest.raises(BadInput) as refused:
            read()
        assert refused.value.fields == {"note": "bad characters"}
