"""Reading a JSON request body strictly: one meaning per body, or a clear 400/415.

Refused, each with a message that says why (``BadRequest`` → 400 ``bad-request``):

* no body; base64 (``isBase64Encoded``) that does not decode; bytes that are not UTF-8
  (RFC 8259 §8.1), including U+FFFD, which API Gateway puts where a text body had invalid
  UTF-8, and ``\\ud800``-style escapes of lone surrogates (not characters, cannot be sent on);
* text that is not JSON, ``NaN``/``Infinity`` (not JSON, though Python reads them);
* the same key twice in one object (RFC 8259 §4 leaves the meaning open; the last one
  silently winning would dial a number the client did not mean) - named in the message;
* nesting deeper than :data:`MAX_DEPTH` (``[[[[…]]]]``: a RecursionError, never a 500).

``UnsupportedMediaType`` (→ 415) when the ``Content-Type`` is neither ``application/json``
nor a ``+json`` type (RFC 6839), parameters such as ``charset=utf-8`` allowed. A request
without ``Content-Type`` is read as JSON: RFC 9110 §8.3 lets a recipient assume a type,
and some signing clients send none; a body that is not JSON is then a 400 anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from typing import Any, Final

#: Deepest nesting of arrays/objects accepted (the instruction itself needs 2).
MAX_DEPTH: Final = 32


class BadRequest(Exception):
    """The request could not be read at all (no body, not UTF-8, not JSON): 400."""


class UnsupportedMediaType(Exception):
    """The Content-Type is not JSON: render as 415 ``unsupported-media-type`` with
    ``str(error)`` as the detail (the response's ``Accept-Post``: ``application/json``)."""


def _check_content_type(content_type: str | None) -> None:
    if content_type is None or not content_type.strip():
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    shown = media if len(media) <= 80 else f"{media[:80]}…"
    raise UnsupportedMediaType(
        f"the body must be sent as application/json, not {shown}; set Content-Type: "
        "application/json"
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            shown = key if len(key) <= 64 else f"{key[:64]}…"
            raise BadRequest(
                f"the key {shown!r} appears more than once in the same object; send it once"
            )
        result[key] = value
    return result


def _integer(text: str) -> int | float:
    """A JSON integer; one with more digits than Python converts to ``int``
    (``sys.get_int_max_str_digits()``, 4300) becomes a float (±inf), exactly like ``1E400``:
    the request then names the field that is out of range, a callback stores it (as
    ``null``), instead of a 400 that quoted Python's own advice."""
    limit = sys.get_int_max_str_digits()
    if limit and len(text.lstrip("-")) > limit:
        return float(text)
    return int(text)


def _not_json_constant(name: str) -> Any:
    raise BadRequest(f"the body is not valid JSON: {name} is not a JSON number")


def _depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a decoded value, iteratively (never recurses); counting stops
    beyond `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _text(raw: str, is_base64: bool) -> str:
    if is_base64:
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the body is marked base64 but is not valid base64") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadRequest(
                f"the body is not valid UTF-8 (byte {error.start + 1}); send JSON in UTF-8"
            ) from None
    if "\ufffd" in raw:
        raise BadRequest(
            "the body is not valid UTF-8 (it arrived with U+FFFD replacement characters); "
            "send JSON in UTF-8"
        )
    return raw


def json_body(raw: str | None, *, is_base64: bool = False, content_type: str | None = None) -> Any:
    """The decoded JSON value of a request body; raises :class:`BadRequest` or
    :class:`UnsupportedMediaType` (see the module docstring for every rule)."""
    _check_content_type(content_type)
    if raw is None or raw == "":
        raise BadRequest("the request has no body; send the instruction as a JSON object")
    text = _text(raw, is_base64)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_not_json_constant,
            parse_int=_integer,
        )
    except RecursionError:
        raise BadRequest(f"the body is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    if _depth(value) > MAX_DEPTH:
        raise BadRequest(f"the body is nested too deeply (at most {MAX_DEPTH} levels)")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(
            "the body contains a \\u escape of a lone surrogate, which is not a character; "
            "send text in UTF-8"
        ) from None
    return value


#: Deepest nesting accepted in a CM callback (far beyond any result CM documents, far below
#: Python's recursion limit, so storing and publishing it never recurses too deep).
MAX_CALLBACK_DEPTH: Final = 256


def _without_lone_surrogates(value: Any) -> Any:
    """`value` with each lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value


def callback_text(raw: str | None, *, is_base64: bool = False) -> str:
    """A CM callback body as text (base64 decoded; bytes that are not UTF-8 read as U+FFFD):
    what :func:`callback_json` reads and what is stored as received."""
    if raw is None or raw == "":
        raise BadRequest("the callback has no body")
    if not is_base64:
        return raw
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        raise BadRequest("the body is marked base64 but is not valid base64") from None


def callback_json(text: str) -> Any:
    """The decoded JSON value of a CM callback body (:func:`callback_text`), read to *record*
    whatever CM sends: only text that is not JSON (`NaN` included) or nests deeper than
    :data:`MAX_CALLBACK_DEPTH` is a :class:`BadRequest`. Values are never refused: U+FFFD, a
    repeated key (the last one counts, as in most parsers; the stored body keeps both),
    lone-surrogate escapes (read as U+FFFD). A refused callback is redelivered and refused
    again until the call expires and its digits are lost."""
    try:
        value = json.loads(text, parse_constant=_not_json_constant, parse_int=_integer)
    except RecursionError:
        raise BadRequest(f"the body is nested too deeply (at most {MAX_CALLBACK_DEPTH})") from None
    except ValueError as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    if _depth(value, MAX_CALLBACK_DEPTH) > MAX_CALLBACK_DEPTH:
        raise BadRequest(f"the body is nested too deeply (at most {MAX_CALLBACK_DEPTH} levels)")
    return _without_lone_surrogates(value)
