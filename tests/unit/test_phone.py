"""Phone numbers: strict international parsing, reasons in plain words, type, region, mask."""

from __future__ import annotations

import phonenumbers
import pytest

from dtmf_gateway.domain import phone
from dtmf_gateway.domain.phone import (
    MAX_PHONE_INPUT_LENGTH,
    PhoneNumberError,
    mask,
    parse_phone,
)

NL_MOBILE = "+31612345678"
NL_FIXED = "+31201234567"
UK_MOBILE = "+447400123456"


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        (NL_MOBILE, NL_MOBILE),
        ("+31 6 1234 5678", NL_MOBILE),
        ("+31-6-1234-5678", NL_MOBILE),
        ("+31 (0)6 12345678", NL_MOBILE),
        ("+31.6.12.34.56.78", NL_MOBILE),
        (" +31612345678 ", NL_MOBILE),
        (NL_FIXED, NL_FIXED),
        ("+31 20 123 4567", NL_FIXED),
        (UK_MOBILE, UK_MOBILE),
        ("+44 7400 123456", UK_MOBILE),
        ("+1 201 555 0123", "+12015550123"),
        ("+883510000000094", "+883510000000094"),
        # the SDK example payload's numbers
        ("+31611111111", "+31611111111"),
        ("+31202222222", "+31202222222"),
    ],
)
def test_valid_numbers_normalise_to_e164(text: str, e164: str) -> None:
    assert parse_phone(text).e164 == e164
    assert phonenumbers.is_valid_number(phonenumbers.parse(e164))


@pytest.mark.parametrize(
    ("text", "reason", "words"),
    [
        ("0031612345678", "idd-prefix", "use +31… instead of 0031…"),
        ("00 31 6 12345678", "idd-prefix", "instead of +"),
        ("0612345678", "national-format", "international format"),
        ("31612345678", "no-plus", "must start with +"),
        ("+3161234", "too-short", "too short for a number with country code +31 (NL)"),
        ("+3161234567", "too-short", "too short"),
        ("+4412", "too-short", "too short"),
        ("+3161234567890123", "too-long", "too long for a number with country code +31"),
        ("+312012345678", "too-long", "too long"),
        ("+999123456789", "unknown-country-code", "country calling code"),
        ("+99912", "unknown-country-code", "country calling code"),
        ("+12005550123", "not-a-valid-number", "not a valid number for country code +1"),
        ("+2691234567", "not-a-valid-number", "no such number range"),
        ("hello", "letters", "contains letters"),
        ("+1 800 FLOWERS", "letters", "contains letters"),
        ("tel:+31612345678", "letters", "contains letters"),
        ("+31612345678;ext=1", "letters", "contains letters"),
        ("+31 6 1234 5678 #", "bad-characters", "not allowed"),
        ("+", "not-a-number", "is not a phone number"),
        ("+ - ", "not-a-number", "is not a phone number"),
        ("", "empty", "is empty"),
        ("   ", "empty", "is empty"),
        ("+31 6 12 34 56 78 90 12 13", "too-long-input", "at most 24 characters"),
    ],
)
def test_invalid_numbers_say_why(text: str, reason: str, words: str) -> None:
    with pytest.raises(PhoneNumberError) as caught:
        parse_phone(text)
    assert caught.value.reason == reason
    assert words in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("length", "ok"), [(MAX_PHONE_INPUT_LENGTH, True), (MAX_PHONE_INPUT_LENGTH + 1, False)]
)
def test_input_length_bound(length: int, ok: bool) -> None:
    text = "+31" + " " * (length - len("+31612345678")) + "612345678"
    assert len(text) == length
    if ok:
        assert parse_phone(text).e164 == NL_MOBILE
    else:
        with pytest.raises(PhoneNumberError, match="at most 24 characters"):
            parse_phone(text)


def test_messages_never_repeat_the_number() -> None:
    for text in ("0031612345678", "+3161234567890123", "+12005550123", "+3161234"):
        with pytest.raises(PhoneNumberError) as caught:
            parse_phone(text)
        digits = "".join(ch for ch in text if ch.isdigit())
        assert digits not in str(caught.value)


@pytest.mark.parametrize(
    ("e164", "kind", "region"),
    [
        (NL_MOBILE, "MOBILE", "NL"),
        (NL_FIXED, "FIXED_LINE", "NL"),
        (UK_MOBILE, "MOBILE", "GB"),
        ("+319001234567", "PREMIUM_RATE", "NL"),
        ("+449012345678", "PREMIUM_RATE", "GB"),
        ("+31800123456", "TOLL_FREE", "NL"),
        ("+31851234567", "VOIP", "NL"),
        ("+31662345678", "PAGER", "NL"),
        ("+447012345678", "PERSONAL_NUMBER", "GB"),
        ("+33884012345", "SHARED_COST", "FR"),
        ("+3114020", "UAN", "NL"),
        ("+49177991234567", "VOICEMAIL", "DE"),
        ("+12015550123", "FIXED_LINE_OR_MOBILE", "US"),
        ("+883510000000094", "VOIP", "001"),
    ],
)
def test_number_type_and_region(e164: str, kind: str, region: str) -> None:
    parsed = parse_phone(e164)
    assert (parsed.number_type, parsed.region) == (kind, region)
    assert kind in phone.NUMBER_TYPE_NAMES


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        (NL_MOBILE, "+31******678"),
        (UK_MOBILE, "+44*******456"),
        ("+12015550123", "+1*******123"),
        ("+883510000000094", "+883*********094"),
        ("+3114020", "+31*****"),
        ("+1", "+1"),
        ("not a number", "***"),
        ("", "***"),
        ("+31 6 1234", "***"),
    ],
)
def test_mask_keeps_country_code_and_last_three_digits(e164: str, masked: str) -> None:
    assert mask(e164) == masked


def test_mask_never_shows_the_middle_digits() -> None:
    assert "12345" not in mask(NL_MOBILE)


def test_each_number_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_parse = phonenumbers.parse

    def counting_parse(text: str, region: str | None) -> phonenumbers.PhoneNumber:
        calls.append(text)
        return real_parse(text, region)

    monkeypatch.setattr(phone, "_cache", {})
    monkeypatch.setattr(phonenumbers, "parse", counting_parse)
    assert parse_phone("+31 6 1111 1111").e164 == "+31611111111"
    assert parse_phone("+31 6 1111 1111").number_type == "MOBILE"
    assert parse_phone("+31 6 1111 1111").e164 == "+31611111111"
    assert calls == ["+31611111111"]


def test_failures_are_cached_but_raised_fresh() -> None:
    with pytest.raises(PhoneNumberError) as first:
        parse_phone("+3161234")
    with pytest.raises(PhoneNumberError) as second:
        parse_phone("+3161234")
    assert first.value is not second.value
    assert str(first.value) == str(second.value)


def test_parse_phone_returns_everything_at_once() -> None:
    info = parse_phone("+44 7400 123456")
    assert (info.e164, info.region, info.country_code, info.number_type) == (
        UK_MOBILE,
        "GB",
        44,
        "MOBILE",
    )


@pytest.mark.parametrize(
    "text",
    [
        "+31\u00a06\u00a01234\u00a05678",  # no-break space (what a word processor pastes)
        "+31\u202f6\u202f1234\u202f5678",  # narrow no-break space (French typography)
        "+31\u20096\u20091234\u20095678",  # thin space
        "+31\u20116\u20111234\u20115678",  # non-breaking hyphen
        "+31\u20136\u20131234\u20135678",  # en dash
        "+31/6/1234/5678",
        "+31\uff0f6\u30001234\uff0d5678",  # fullwidth solidus, ideographic space, fullwidth -
        "+31\u200b612345678",  # zero-width space
        "+31\u00ad612345678",  # soft hyphen
        "\uff0b\uff13\uff11\uff16\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
        "+\u0663\u0661\u0666\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic
        "+\u0969\u0967\u096c\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e",  # Devanagari
        "+31 [6] 1234~5678",
    ],
)
def test_pasted_separators_and_unicode_digits_are_normalised(text: str) -> None:
    assert parse_phone(text).e164 == NL_MOBILE


@pytest.mark.parametrize(
    "text",
    ["+31\t612345678", "+31_612345678", "+31*612345678", "+31612345678#", "+31\x00612345678"],
)
def test_other_characters_stay_refused(text: str) -> None:
    with pytest.raises(PhoneNumberError) as caught:
        parse_phone(text)
    assert caught.value.reason == "bad-characters"


def test_extension_marker_is_refused_as_a_letter() -> None:
    with pytest.raises(PhoneNumberError) as caught:
        parse_phone("+31612345678x12")
    assert caught.value.reason == "letters"


# ------------------------------------------------------------------ break-13 findings


@pytest.mark.parametrize(
    "text",
    [
        "\u200e+31612345678",  # LRM: what copying from a right-to-left page adds
        "+31612345678\u200f",
        "\u202a+31 6 1234 5678\u202c",  # LRE … PDF
        "\u2066+31612345678\u2069",  # LRI … PDI
    ],
)
def test_bidi_marks_around_a_pasted_number_are_ignored(text: str) -> None:
    """libphonenumber accepts them; they were refused as "characters that are not allowed",
    a difference the client cannot see."""
    assert parse_phone(text).e164 == "+31612345678"


def test_an_invisible_character_that_is_refused_is_named() -> None:
    with pytest.raises(PhoneNumberError) as caught:
        parse_phone("+31\u200d612345678")  # zero-width joiner
    assert caught.value.reason == "bad-characters"
    assert "U+200D" in str(caught.value)
