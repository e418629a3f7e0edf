"""Dial policy: destination countries, blocked number types, allowed caller ids."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from dtmf_gateway.domain.errors import PolicyRefused, PolicyViolation
from dtmf_gateway.domain.policy import (
    DEFAULT_BLOCKED_NUMBER_TYPES,
    RULE_CALLER,
    RULE_COUNTRY,
    RULE_NUMBER_TYPE,
    DialPolicy,
)
from dtmf_gateway.domain.request import DtmfCallRequest, parse_dtmf_call_request

NL_MOBILE = "+31612345678"
NL_FIXED = "+31201234567"
NL_PREMIUM = "+319001234567"
NL_TOLL_FREE = "+31800123456"
NL_PAGER = "+31662345678"
UK_MOBILE = "+447400123456"
UK_PREMIUM = "+449012345678"
UK_PERSONAL = "+447012345678"
FR_SHARED_COST = "+33884012345"
DE_VOICEMAIL = "+49177991234567"
NL_UAN = "+3114020"
GLOBAL_VOIP = "+883510000000094"


def request(*callees: str, caller: str = NL_FIXED) -> DtmfCallRequest:
    raw: dict[str, Any] = {"caller": caller, "prompt": "code?", "valid-prompt": "Thanks."}
    if len(callees) == 1:
        raw["callee"] = callees[0]
    else:
        raw["callees"] = list(callees)
    return parse_dtmf_call_request(raw)


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------


def test_default_blocked_types() -> None:
    assert {
        "PREMIUM_RATE",
        "SHARED_COST",
        "UAN",
        "PERSONAL_NUMBER",
        "PAGER",
        "VOICEMAIL",
        "UNKNOWN",
    } == DEFAULT_BLOCKED_NUMBER_TYPES
    assert DialPolicy().blocked_number_types == DEFAULT_BLOCKED_NUMBER_TYPES


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("*", None),
        ("", None),
        ("  ", None),
        (" * ", None),
        ("NL", {"NL"}),
        ("nl, be ,DE", {"NL", "BE", "DE"}),
        ("NL,,BE,", {"NL", "BE"}),
        ("GB,001", {"GB", "001"}),
    ],
)
def test_allowed_countries_setting(setting: str, expected: set[str] | None) -> None:
    assert DialPolicy.from_settings(allowed_countries=setting).allowed_countries == expected


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("XX", "unknown region code(s) XX"),
        ("NL,UK", "unknown region code(s) UK"),
        ("NLD", "unknown region code(s) NLD"),
        ("*,NL", "cannot be combined"),
        ("31", "unknown region code(s) 31"),
    ],
)
def test_bad_country_setting_fails_loudly(setting: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="allowed countries") as caught:
        DialPolicy.from_settings(allowed_countries=setting)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("default", DEFAULT_BLOCKED_NUMBER_TYPES),
        ("DEFAULT", DEFAULT_BLOCKED_NUMBER_TYPES),
        ("", DEFAULT_BLOCKED_NUMBER_TYPES),
        ("none", frozenset()),
        ("PREMIUM_RATE", {"PREMIUM_RATE"}),
        ("premium_rate, pager, TOLL_FREE", {"PREMIUM_RATE", "PAGER", "TOLL_FREE"}),
    ],
)
def test_blocked_types_setting(setting: str, expected: frozenset[str]) -> None:
    assert DialPolicy.from_settings(blocked_number_types=setting).blocked_number_types == expected


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("PREMIUM", "unknown type(s) PREMIUM"),
        ("PREMIUM_RATE,FAX", "unknown type(s) FAX"),
        ("default,PAGER", "must be used alone"),
        ("none,PAGER", "must be used alone"),
    ],
)
def test_bad_blocked_types_setting_fails_loudly(setting: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="blocked number types") as caught:
        DialPolicy.from_settings(blocked_number_types=setting)
    assert fragment in str(caught.value)


def test_allowed_callers_setting_is_normalised() -> None:
    policy = DialPolicy.from_settings(allowed_callers=" +31 20 123 4567 ,+44 7400 123456")
    assert policy.allowed_callers == {NL_FIXED, UK_MOBILE}
    assert DialPolicy.from_settings(allowed_callers="").allowed_callers == frozenset()


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [("0201234567", "entry 1"), (f"{NL_FIXED},+3120", "entry 2"), ("hello", "letters")],
)
def test_bad_allowed_callers_entries_are_reported_and_never_widen_the_list(
    setting: str, fragment: str
) -> None:
    policy = DialPolicy.from_settings(allowed_callers=setting)  # never fails the cold start
    assert policy.callers_restricted
    assert any(fragment in reason for reason in policy.unusable_callers)
    assert all("+3120" not in reason for reason in policy.unusable_callers)  # no numbers
    violations = policy.check(request(NL_FIXED, caller=UK_MOBILE))
    assert [v.rule for v in violations] == ["caller-not-allowed"]
    assert "not valid numbers and were ignored" in violations[0].message


# ---------------------------------------------------------------------------------------
# Checking requests
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", [NL_MOBILE, NL_FIXED, UK_MOBILE, NL_TOLL_FREE, GLOBAL_VOIP, "+12015550123"]
)
def test_default_policy_allows_ordinary_numbers(number: str) -> None:
    assert DialPolicy.from_settings().check(request(number)) == []


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        (NL_PREMIUM, "PREMIUM_RATE"),
        (UK_PREMIUM, "PREMIUM_RATE"),
        (FR_SHARED_COST, "SHARED_COST"),
        (NL_UAN, "UAN"),
        (UK_PERSONAL, "PERSONAL_NUMBER"),
        (NL_PAGER, "PAGER"),
        (DE_VOICEMAIL, "VOICEMAIL"),
    ],
)
def test_default_policy_blocks_toll_fraud_types(number: str, kind: str) -> None:
    violations = DialPolicy.from_settings().check(request(number))
    assert len(violations) == 1
    violation = violations[0]
    assert violation.rule == RULE_NUMBER_TYPE
    assert violation.field == "callee"
    assert kind in violation.message
    assert number[1:] not in violation.message
    assert number[-7:] not in violation.message


def test_blocking_nothing() -> None:
    policy = DialPolicy.from_settings(blocked_number_types="none")
    assert policy.check(request(NL_PREMIUM)) == []


def test_country_not_allowed_names_the_country_and_the_field() -> None:
    policy = DialPolicy.from_settings(allowed_countries="NL")
    violations = policy.check(request(NL_MOBILE, UK_MOBILE, NL_FIXED))
    assert violations == [
        PolicyViolation(
            RULE_COUNTRY, "callees[1]", "calls to GB (+44) are not allowed by this service"
        )
    ]


def test_non_geographic_numbers_need_001() -> None:
    assert DialPolicy.from_settings(allowed_countries="NL").check(request(GLOBAL_VOIP))[
        0
    ].message == ("calls to non-geographic numbers are not allowed by this service")
    assert DialPolicy.from_settings(allowed_countries="NL,001").check(request(GLOBAL_VOIP)) == []


def test_caller_not_allowed_is_masked() -> None:
    policy = DialPolicy.from_settings(allowed_callers=UK_MOBILE)
    violations = policy.check(request(NL_MOBILE, caller=NL_FIXED))
    assert len(violations) == 1
    assert violations[0].rule == RULE_CALLER
    assert violations[0].field == "caller"
    assert "+31******567" in violations[0].message
    assert NL_FIXED not in violations[0].message
    assert policy.check(request(NL_MOBILE, caller=UK_MOBILE)) == []


def test_every_violation_is_reported() -> None:
    policy = DialPolicy.from_settings(
        allowed_countries="NL", allowed_callers=UK_MOBILE, blocked_number_types="default"
    )
    violations = policy.check(request(NL_MOBILE, UK_PREMIUM, NL_PREMIUM))
    assert [(v.rule, v.field) for v in violations] == [
        (RULE_CALLER, "caller"),
        (RULE_COUNTRY, "callees[1]"),
        (RULE_NUMBER_TYPE, "callees[1]"),
        (RULE_NUMBER_TYPE, "callees[2]"),
    ]


def test_enforce_raises_policy_refused() -> None:
    policy = DialPolicy.from_settings(allowed_countries="GB")
    with pytest.raises(PolicyRefused) as caught:
        policy.enforce(request(NL_MOBILE))
    assert caught.value.rules == [RULE_COUNTRY]
    assert asdict(caught.value.violations[0]) == {
        "rule": RULE_COUNTRY,
        "field": "callee",
        "message": "calls to NL (+31) are not allowed by this service",
    }
    assert RULE_COUNTRY in str(caught.value)
    policy.enforce(request(UK_MOBILE))  # allowed: returns quietly


def test_policy_is_frozen() -> None:
    policy = DialPolicy()
    with pytest.raises(AttributeError):
        policy.allowed_countries = frozenset({"NL"})  # type: ignore[misc]
