"""Phone numbers: strict international parsing to E.164, number type, region, log masking.

Validity comes from libphonenumber's metadata (``is_valid_number``), never from a regex.
Numbers must be international (``+`` and a country calling code); no default region is
assumed. Every failure raises :class:`PhoneNumberError` whose message says *why* in plain
words, without repeating the number.

Separators people paste are accepted and dropped: every character libphonenumber treats as
punctuation (``phonenumberutil._VALID_PUNCTUATION``: hyphens, dashes, slashes, brackets,
tildes, dots, no-break and ideographic spaces, soft hyphen, zero-width space, word joiner)
except its extension marker ``x``, plus every Unicode space separator (category ``Zs``, so
narrow no-break and thin spaces) and dash (category ``Pd``, so the non-breaking hyphen).
Invisible bidi marks (LRM, RLM, embeddings, isolates) that text copied from a
right-to-left page wraps around a number are dropped as well.
Digits may be any Unicode decimal digit (fullwidth U+FF13, Arabic-Indic U+0663), and the
plus sign may be fullwidth (U+FF0B); the number is normalised to ASCII E.164.

Each distinct input string is parsed once per warm execution environment: results (and
failures) are kept in a small bounded cache keyed by the raw string. The validated request
keeps the parsed :class:`PhoneNumber` itself, so the dial policy never parses again; the
cache only pays off across requests (measured with ``scripts/measure_phone_cache.py``: see
:data:`_CACHE_SIZE`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import phonenumbers
import regex
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType, ValidationResult

#: Longest input accepted for a phone number field (CM: caller/callee are 1-24 characters).
#: E.164 itself is at most 16 characters; the rest leaves room for spaces and dashes.
MAX_PHONE_INPUT_LENGTH: Final = 24

#: libphonenumber's own punctuation (minus ``x``, its extension marker: extensions cannot be
#: dialled by CM) — the separators its parser ignores.
_LIBPHONENUMBER_PUNCTUATION: Final = frozenset(
    str(getattr(phonenumbers.phonenumberutil, "_VALID_PUNCTUATION", " -.()"))
) - {"x"}
#: Unicode categories of separators accepted as well: space separators (no-break, narrow
#: no-break, thin, figure spaces) and dashes (non-breaking hyphen, en and em dash).
_SEPARATOR_CATEGORIES: Final = frozenset({"Zs", "Pd"})
#: Invisible bidirectional marks that text copied from a right-to-left page or app wraps
#: around a number (LRM, RLM, ALM, the embeddings/overrides and isolates): libphonenumber
#: accepts them around the number, and they carry nothing a number could mean.
_BIDI_MARKS: Final = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e") | frozenset(
    "\u2066\u2067\u2068\u2069"
)
#: The plus signs libphonenumber accepts (ASCII and fullwidth).
_PLUS_SIGNS: Final = frozenset("+\uff0b")

#: Region code libphonenumber uses for non-geographic entities (+800, +808, +870, +88x, +979).
NON_GEOGRAPHIC_REGION: Final = "001"

_EXAMPLE: Final = "+31612345678"
#: Entries of the parse cache. Remeasured after the request started carrying its parsed
#: numbers (so the policy no longer parses): within one request each number is parsed once
#: without it; what the cache still saves is work *across* requests in a warm function,
#: which sees the same callers and callees again. ``scripts/measure_phone_cache.py``
#: (x86_64 dev box, 2 shared cores): fresh parse 24-60 µs for valid/short numbers and
#: ~450 µs for an invalid number whose length hint runs; a hit 0.1-1.5 µs. Kept: bounded
#: (4096 entries, a few hundred KB), and it caps what repeated invalid numbers cost.
_CACHE_SIZE: Final = 4096


class PhoneNumberError(ValueError):
    """The text is not a valid international phone number; ``str(error)`` says why.

    ``reason`` is a stable code: ``empty``, ``too-long-input``, ``letters``,
    ``bad-characters``, ``idd-prefix``, ``national-format``, ``no-plus``,
    ``not-a-number``, ``unknown-country-code``, ``too-short``, ``too-long``,
    ``invalid-length``, ``not-a-valid-number``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A valid number: its E.164 form, ISO region (``"NL"``, or ``"001"`` for
    non-geographic numbers), country calling code and ``PhoneNumberType`` name."""

    e164: str
    region: str
    country_code: int
    number_type: str


_TYPE_NAMES: Final[dict[int, str]] = {
    value: name
    for name, value in vars(PhoneNumberType).items()
    if not name.startswith("_") and isinstance(value, int)
}

#: Every ``PhoneNumberType`` name (``"MOBILE"``, ``"PREMIUM_RATE"``, ...).
NUMBER_TYPE_NAMES: Final = frozenset(_TYPE_NAMES.values())

_cache: dict[str, PhoneNumber | PhoneNumberError] = {}


def _remember(key: str, value: PhoneNumber | PhoneNumberError) -> None:
    if len(_cache) >= _CACHE_SIZE:
        # Insertion-ordered dict: drop the oldest entry (FIFO is plenty for a per-request
        # cache). Another thread may have dropped it first: then just start afresh.
        try:
            del _cache[next(iter(_cache))]
        except (KeyError, RuntimeError, StopIteration):
            _cache.clear()
    _cache[key] = value


def _country_label(country_code: int) -> str:
    region = phonenumbers.region_code_for_country_code(country_code)
    if region in ("ZZ", NON_GEOGRAPHIC_REGION):
        return f"country code +{country_code}"
    return f"country code +{country_code} ({region})"


def _leading_country_code(digits: str) -> int | None:
    """The country calling code a run of digits starts with (1-3 digits), if any."""
    for size in (1, 2, 3):
        if len(digits) >= size and int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return int(digits[:size])
    return None


def _is_separator(ch: str) -> bool:
    return (
        ch in _LIBPHONENUMBER_PUNCTUATION
        or ch in _BIDI_MARKS
        or unicodedata.category(ch) in _SEPARATOR_CATEGORIES
    )


def _normalise(text: str) -> str:
    """``+`` (if any) and ASCII digits: separators dropped, Unicode digits and the fullwidth
    plus mapped to ASCII. Refuses empty or over-long text, letters and other characters."""
    if len(text) > MAX_PHONE_INPUT_LENGTH:
        raise PhoneNumberError(
            "too-long-input",
            f"is too long to be a phone number (at most {MAX_PHONE_INPUT_LENGTH} characters)",
        )
    stripped = "".join(ch for ch in text.strip() if not _is_separator(ch))
    if not stripped:
        if text.strip():
            raise PhoneNumberError("not-a-number", f"is not a phone number; e.g. {_EXAMPLE}")
        raise PhoneNumberError(
            "empty", f"is empty; give a phone number in international format, e.g. {_EXAMPLE}"
        )
    plus = stripped[0] in _PLUS_SIGNS
    body = stripped[1:] if plus else stripped
    if any(ch.isalpha() for ch in body):
        raise PhoneNumberError(
            "letters",
            f"contains letters; a phone number has only digits after the +, e.g. {_EXAMPLE}",
        )
    bad = next((ch for ch in body if not ch.isdecimal()), None)
    if bad is not None:
        # Named by code point: it may be invisible (a zero-width joiner), and the number
        # itself is never repeated.
        raise PhoneNumberError(
            "bad-characters",
            f"contains a character that is not allowed (U+{ord(bad):04X}); use a + followed "
            f"by digits (spaces, dashes, dots, slashes and parentheses are ignored), e.g. "
            f"{_EXAMPLE}",
        )
    if not body:
        raise PhoneNumberError("not-a-number", f"is not a phone number; e.g. {_EXAMPLE}")
    return ("+" if plus else "") + "".join(str(unicodedata.decimal(ch)) for ch in body)


def _check_prefix(stripped: str) -> None:
    if stripped.startswith("+"):
        return
    digits = stripped
    if digits.startswith("00"):
        code = _leading_country_code(digits[2:])
        if code is not None:
            hint = f"use +{code}… instead of 00{code}…"
        else:
            hint = "write + and the country calling code instead of 00"
        raise PhoneNumberError(
            "idd-prefix",
            f"starts with 00 instead of +; {hint} (international E.164 format)",
        )
    if digits.startswith("0"):
        raise PhoneNumberError(
            "national-format",
            "looks like a national number (leading 0); write it in international format "
            f"with + and the country calling code, e.g. {_EXAMPLE}",
        )
    raise PhoneNumberError(
        "no-plus",
        "must start with + and the country calling code (international E.164 format, "
        f"e.g. {_EXAMPLE})",
    )


def _parse_error(error: NumberParseException) -> PhoneNumberError:
    kind = error.error_type
    if kind == NumberParseException.INVALID_COUNTRY_CODE:
        return PhoneNumberError(
            "unknown-country-code", "does not start with a known country calling code after +"
        )
    if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return PhoneNumberError("too-short", "is too short to be a phone number")
    if kind == NumberParseException.TOO_LONG:
        return PhoneNumberError("too-long", "is too long to be a phone number")
    return PhoneNumberError("not-a-number", f"is not a phone number; e.g. {_EXAMPLE}")


_TYPE_DESCRIPTORS: Final = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


@lru_cache(maxsize=2048)
def _pattern(source: str) -> Any:
    return regex.compile(source)


def _length_hint(country_code: int, national_number: str) -> str | None:
    """Why a number of a *possible* length is still invalid: too short or too long for the
    number ranges of its country (judged against every number type's pattern), else None.

    Only runs on the failure path, so its cost does not matter for valid numbers.
    """
    patterns = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        if metadata is None:
            continue
        for name in _TYPE_DESCRIPTORS:
            desc = getattr(metadata, name, None)
            source = getattr(desc, "national_number_pattern", None)
            if source:
                patterns.append(_pattern(source))
    if any(
        (m := p.fullmatch(national_number, partial=True)) is not None and m.partial
        for p in patterns
    ):
        return "too-short"
    if any(
        p.fullmatch(national_number[:end]) is not None
        for p in patterns
        for end in range(1, len(national_number))
    ):
        return "too-long"
    return None


def _analyse(text: str) -> PhoneNumber:
    stripped = _normalise(text)
    _check_prefix(stripped)
    try:
        number = phonenumbers.parse(stripped, None)
    except NumberParseException as error:
        raise _parse_error(error) from None
    country_code = int(number.country_code or 0)
    if phonenumbers.region_code_for_country_code(country_code) in ("", "ZZ"):
        raise PhoneNumberError(
            "unknown-country-code", f"+{country_code} is not a known country calling code"
        )
    label = _country_label(country_code)
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == ValidationResult.INVALID_COUNTRY_CODE:
        raise PhoneNumberError(
            "unknown-country-code", f"+{country_code} is not a known country calling code"
        )
    if possible in (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        raise PhoneNumberError("too-short", f"is too short for a number with {label}")
    if possible == ValidationResult.TOO_LONG:
        raise PhoneNumberError("too-long", f"is too long for a number with {label}")
    if possible == ValidationResult.INVALID_LENGTH:
        raise PhoneNumberError(
            "invalid-length", f"has a length that no number with {label} can have"
        )
    if not phonenumbers.is_valid_number(number):
        hint = _length_hint(country_code, phonenumbers.national_significant_number(number))
        if hint == "too-short":
            raise PhoneNumberError("too-short", f"is too short for a number with {label}")
        if hint == "too-long":
            raise PhoneNumberError("too-long", f"is too long for a number with {label}")
        raise PhoneNumberError(
            "not-a-valid-number",
            f"has a possible length but is not a valid number for {label} (no such number range)",
        )
    region = phonenumbers.region_code_for_number(number) or NON_GEOGRAPHIC_REGION
    number_type = _TYPE_NAMES.get(phonenumbers.number_type(number), "UNKNOWN")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return PhoneNumber(e164=e164, region=region, country_code=country_code, number_type=number_type)


def parse_phone(text: str) -> PhoneNumber:
    """Parse and validate ``text``; raise :class:`PhoneNumberError` saying why it is refused."""
    cached = _cache.get(text)
    if cached is None:
        try:
            cached = _analyse(text)
        except PhoneNumberError as error:
            cached = error
        _remember(text, cached)
    if isinstance(cached, PhoneNumberError):
        # A fresh exception each time: never re-raise a shared instance (tracebacks pile up).
        raise PhoneNumberError(cached.reason, str(cached))
    return cached


def mask(e164: str) -> str:
    """A log-safe form: ``+``, the country calling code and the last 3 digits only.

    ``+31612345678`` → ``+31******678``. Works on anything (never raises, never parses):
    text that is not ``+`` and digits is masked completely; numbers too short to hide
    anything show no trailing digits.
    """
    if not e164.startswith("+") or not e164[1:].isdigit() or not e164.isascii():
        return "***"
    digits = e164[1:]
    code = _leading_country_code(digits)
    prefix = str(code) if code is not None else ""
    rest = digits[len(prefix) :]
    if len(rest) <= 6:
        return f"+{prefix}{'*' * len(rest)}"
    return f"+{prefix}{'*' * (len(rest) - 3)}{rest[-3:]}"
