"""What the portal refuses before a view sees it, in one place.

Text from a path segment, the query string, a header, a JSON body, a form or a file name must
not carry a NUL character or invalid Unicode (a lone UTF-16 surrogate): no database stores them.
Ids in a path fit their column (beyond: no route, 404), JSON bodies stay within a depth and a
size (413 beyond the size), JSON numbers within 64 bits, API dates within MIN_DATE..MAX_DATE.
The API answers 400 (characters) or 422 (numbers, dates) naming the field; HTML forms show the
field's message through `PortalForm`, and a view that reads such a value from `request.form`
directly gets the 400 page naming it.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from typing import Any, Literal, overload

from apiflask import fields
from flask import Flask, current_app, has_request_context, request
from flask_babel import force_locale, lazy_gettext
from marshmallow import ValidationError
from werkzeug.datastructures import CombinedMultiDict, ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter

from portal.core.errors import DomainError, ValidationFailed, wants_json

MAX_JSON_INT = 2**63 - 1
# Dates a person or an ERP can mean; beyond, converting between time zones or adding a day
# overflows Python's datetime (year 1 at +14:00 is before year 1 in UTC).
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(9000, 12, 31)

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")

NUL_MESSAGE = lazy_gettext("must not contain a NUL character")
UNICODE_MESSAGE = lazy_gettext("is not valid Unicode text")
NUMBER_MESSAGE = lazy_gettext("is out of range")
DATE_MESSAGE = lazy_gettext("must be a date between %(start)s and %(end)s")


class BadInput(DomainError):
    """Text with a NUL character or invalid Unicode, named in `fields`."""

    code = "invalid_characters"
    status = 400

    def __init__(self, *, fields: dict[str, str]) -> None:
        super().__init__(
            say(lazy_gettext("Some fields contain characters that are not allowed.")),
            fields=fields,
        )


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413

    def __init__(self, *, fields: dict[str, str]) -> None:
        super().__init__(say(lazy_gettext("The request body is too large.")), fields=fields)


def say(message: Any, **values: Any) -> str:
    """A lazy message as text: English for the API (as every API message), else the page's."""
    if has_request_context() and wants_json():
        with force_locale("en"):
            text = str(message)
    else:
        text = str(message)
    return text % values if values else text


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    return say(NUL_MESSAGE if found.group() == "\x00" else UNICODE_MESSAGE)


def date_problem(value: date | None) -> str | None:
    """Why a date (or a datetime's day) is out of range, or None. None: out of Python's own."""
    day = value.date() if isinstance(value, datetime) else value
    if day is not None and MIN_DATE <= day <= MAX_DATE:
        return None
    return say(DATE_MESSAGE, start=MIN_DATE.isoformat(), end=MAX_DATE.isoformat())


_DAY = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})\Z")
DAY_MESSAGE = lazy_gettext("must be a date written YYYY-MM-DD, between %(start)s and %(end)s")
DAY_ERROR = lazy_gettext("“%(field)s” is not a date written YYYY-MM-DD: %(value)s")


def parse_day(text: str | None, *, field: str) -> date | None:
    """A day typed into a query string or a form, as YYYY-MM-DD (a one-digit month or day too):
    None when left empty. Anything else, or a day outside MIN_DATE..MAX_DATE (beyond, a time
    zone's conversion overflows), raises ValidationFailed naming `field`."""
    value = (text or "").strip()
    if not value:
        return None
    found = _DAY.match(value)
    day = None
    if found is not None:
        try:
            day = date(int(found[1]), int(found[2]), int(found[3]))
        except ValueError:  # no such day: 2025-02-30, month 13, year 0
            day = None
    if day is None or date_problem(day):
        raise ValidationFailed(
            say(DAY_ERROR, field=field, value=value[:20]),
            fields={field: say(DAY_MESSAGE, start=MIN_DATE.isoformat(), end=MAX_DATE.isoformat())},
        )
    return day


# -- marshmallow fields for the API --------------------------------------------------------------


class Date(fields.Date):
    """A date between MIN_DATE and MAX_DATE."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> date:
        result = super()._deserialize(value, attr, data, **kwargs)
        problem = date_problem(result)
        if problem:
            raise ValidationError(problem)
        return result


class AwareDateTime(fields.AwareDateTime):
    """A date and time with its UTC offset, between MIN_DATE and MAX_DATE in UTC too."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        result = super()._deserialize(value, attr, data, **kwargs)
        try:
            in_utc = result.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise ValidationError(str(date_problem(None))) from exc
        problem = date_problem(result) or date_problem(in_utc)
        if problem:
            raise ValidationError(problem)
        return result


# -- path segments -------------------------------------------------------------------------------


MAX_INT_ID = 2**31 - 1  # INTEGER primary keys
MAX_BIGINT_ID = 2**63 - 1  # BIGINT ones (`core.db.BigId`): `<bigint:...>`


def digits_up_to(limit: int) -> str:
    """A regex for the unsigned decimal numbers from 0 to `limit`."""
    text = str(limit)
    options = [f"[0-9]{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for i, digit in enumerate(text):
        if digit != "0":
            options.append(f"{text[:i]}[0-{int(digit) - 1}][0-9]{{{len(text) - i - 1}}}")
    options.append(text)
    return "(?:" + "|".join(options) + ")"


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` whose number fits the id column (INTEGER): a larger one matches no route, a
    404. The bound is in the regex: a converter refusing the number after matching would make
    werkzeug answer 405 where a rule for another method matched the same path first."""

    default_max = MAX_INT_ID

    def __init__(self, map: Any, fixed_digits: int = 0, min: Any = None, max: Any = None) -> None:  # noqa: A002
        limit = self.default_max if max is None else max
        super().__init__(map, fixed_digits, min, limit)
        self.regex = digits_up_to(limit)


class BigIntConverter(BoundedIntConverter):
    """`<bigint:...>` for BIGINT ids."""

    default_max = MAX_BIGINT_ID


# -- JSON bodies ---------------------------------------------------------------------------------


def _walk_json(value: Any, max_depth: int) -> tuple[dict[str, str], dict[str, str]]:
    """(text problems, number problems) by field path ("lines.0.sku"); deeper than `max_depth`
    is a problem of the body itself."""
    text: dict[str, str] = {}
    numbers: dict[str, str] = {}
    stack: list[tuple[str, Any, int]] = [("", value, 1)]
    while stack and len(text) + len(numbers) < 20:
        path, item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                numbers[path or "_body"] = say(
                    lazy_gettext("nests deeper than %(depth)s levels"), depth=max_depth
                )
                continue
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                name = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and (problem := text_problem(key)):
                    text[_printable(name)] = problem
                    continue
                stack.append((name, child, depth + 1))
        elif isinstance(item, str):
            if problem := text_problem(item):
                text[_printable(path or "_body")] = problem
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_JSON_INT:
                numbers[path or "_body"] = say(NUMBER_MESSAGE)
        elif isinstance(item, float) and (not math.isfinite(item) or abs(item) > MAX_JSON_INT):
            numbers[path or "_body"] = say(NUMBER_MESSAGE)
    return text, numbers


def _printable(name: str) -> str:
    return _BAD_TEXT.sub("\N{REPLACEMENT CHARACTER}", name)


def _check_json() -> None:
    limit = current_app.config["MAX_JSON_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(fields={"_body": say(_TOO_LARGE, limit=limit)})
    data = request.get_data(cache=True)
    if len(data) > limit:
        raise PayloadTooLarge(fields={"_body": say(_TOO_LARGE, limit=limit)})
    if not data.strip():
        return
    try:
        payload = json.loads(data)
    except RecursionError as exc:
        raise ValidationFailed(fields={"_body": say(_TOO_DEEP)}) from exc
    except ValueError:
        return  # not JSON: the view's parser says so
    text, numbers = _walk_json(payload, current_app.config["MAX_JSON_DEPTH"])
    if text:
        raise BadInput(fields=text)
    if numbers:
        raise ValidationFailed(fields=numbers)


_TOO_LARGE = lazy_gettext("is larger than %(limit)s bytes")
_TOO_DEEP = lazy_gettext("nests too deep")


# -- form data -----------------------------------------------------------------------------------


class GuardedForm(ImmutableMultiDict):
    """Form data whose bad values answer 400 naming the field when a view reads them directly.

    `PortalForm` reads `raw` instead and shows the problem as the field's error.
    """

    def __init__(self, data: Any = None, problems: dict[str, str] | None = None) -> None:
        super().__init__(data)
        self.raw = data if data is not None else ImmutableMultiDict()
        self.problems = problems or {}

    def _check(self, key: Any) -> None:
        if key in self.problems:
            raise BadInput(fields={_printable(str(key)): self.problems[key]})

    def _check_all(self) -> None:
        for key in self.problems:
            self._check(key)

    # `get` is werkzeug's: it reads the value through `__getitem__`, checked here.
    def __getitem__(self, key: Any) -> Any:
        self._check(key)
        return super().__getitem__(key)

    def getlist(self, key: Any, type: Any = None) -> list[Any]:  # noqa: A002
        self._check(key)
        return super().getlist(key, type)

    def items(self, multi: bool = False) -> Any:
        self._check_all()
        return super().items(multi)

    def lists(self) -> Any:
        self._check_all()
        return super().lists()

    def values(self) -> Any:
        self._check_all()
        return super().values()

    @overload
    def to_dict(self, flat: Literal[True] = ...) -> dict[Any, Any]: ...
    @overload
    def to_dict(self, flat: Literal[False]) -> dict[Any, list[Any]]: ...
    def to_dict(self, flat: bool = True) -> dict[Any, Any] | dict[Any, list[Any]]:
        self._check_all()
        return super().to_dict(flat=True) if flat else super().to_dict(flat=False)


def unguarded(formdata: Any) -> Any:
    """The form data as sent, for a form that reports bad values itself."""
    if isinstance(formdata, GuardedForm):
        return formdata.raw
    if isinstance(formdata, CombinedMultiDict):
        return CombinedMultiDict([unguarded(part) for part in formdata.dicts])
    return formdata


def _form_problems(form: MultiDict) -> dict[str, str]:
    problems: dict[str, str] = {}
    for key, values in form.lists():
        for value in [key, *values]:
            if isinstance(value, str) and (problem := text_problem(value)):
                problems[key] = problem
                break
    return problems


# -- the request ---------------------------------------------------------------------------------


def check_request() -> None:
    """Refuse bad text and numbers before any view runs (see the module's docstring)."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and (problem := text_problem(value)):
            raise BadInput(fields={name: problem})
    problems = _form_problems(request.args)
    if problems:
        raise BadInput(fields={_printable(k): v for k, v in problems.items()})
    for name, value in request.headers.items():
        if "\x00" in value:  # headers arrive as Latin-1: no surrogates, but NUL (Idempotency-Key)
            raise BadInput(fields={name: say(NUL_MESSAGE)})
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.is_json:
        _check_json()
    elif request.mimetype in _FORM_TYPES:
        for name, storage in request.files.items(multi=True):
            if storage.filename and (problem := text_problem(storage.filename)):
                raise BadInput(fields={_printable(name): problem})
        problems = _form_problems(request.form)
        if not problems:
            return
        if wants_json():
            raise BadInput(fields={_printable(k): v for k, v in problems.items()})
        # Werkzeug's request caches `form` in the instance; views and forms read this one.
        request.form = GuardedForm(request.form, problems)


def init_app(app: Flask) -> None:
    """Before the blueprints: the `int` converter applies when their rules are added."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.url_map.converters["bigint"] = BigIntConverter
    app.before_request(check_request)
