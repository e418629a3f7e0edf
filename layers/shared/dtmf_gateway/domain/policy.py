"""Dial policy: which callees and caller ids this deployment lets a client use.

Configured from three template parameters (comma-separated strings), checked at cold
start: a misconfiguration fails loudly instead of silently opening or closing the gate.

Number types are blocked by default because they are the classic vectors of toll fraud
and International Revenue Share Fraud (IRSF): a client who can make the service dial a
premium-rate, shared-cost or "personal" number that *they* collect revenue on turns every
call into money for them and a bill for us. Pagers, voicemail access numbers and numbers
whose type is unknown cannot answer a DTMF prompt anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import phonenumbers

from dtmf_gateway.domain.errors import PolicyRefused, PolicyViolation
from dtmf_gateway.domain.phone import (
    NON_GEOGRAPHIC_REGION,
    NUMBER_TYPE_NAMES,
    PhoneNumberError,
    mask,
    parse_phone,
)

if TYPE_CHECKING:
    from dtmf_gateway.domain.request import DtmfCallRequest

#: Blocked unless configured otherwise (see the module docstring for why).
DEFAULT_BLOCKED_NUMBER_TYPES: Final = frozenset(
    {
        "PREMIUM_RATE",
        "SHARED_COST",
        "UAN",
        "PERSONAL_NUMBER",
        "PAGER",
        "VOICEMAIL",
        "UNKNOWN",
    }
)

RULE_COUNTRY: Final = "destination-country-not-allowed"
RULE_NUMBER_TYPE: Final = "number-type-not-allowed"
RULE_CALLER: Final = "caller-not-allowed"

#: Setting values with a special meaning.
ANY: Final = "*"
DEFAULT: Final = "default"
NONE: Final = "none"

#: Region codes accepted in ``allowed_countries``: ISO 3166 codes libphonenumber knows,
#: plus ``001`` for non-geographic numbers (+800, +808, +870, +88x, +979).
KNOWN_REGIONS: Final = frozenset(phonenumbers.SUPPORTED_REGIONS) | {NON_GEOGRAPHIC_REGION}


def _items(setting: str) -> list[str]:
    return [item.strip() for item in setting.split(",") if item.strip()]


def _known(items: list[str], known: frozenset[str], what: str, hint: str) -> frozenset[str]:
    """The items, or ValueError naming those that are not ``known``."""
    unknown = sorted(set(items) - known)
    if unknown:
        raise ValueError(f"{what} {', '.join(unknown)}; {hint}")
    return frozenset(items)


def _parse_countries(setting: str) -> frozenset[str] | None:
    items = [item.upper() for item in _items(setting)]
    if not items or items == [ANY]:
        return None
    if ANY in items:
        raise ValueError(f"allowed countries: '{ANY}' (any) cannot be combined with codes")
    return _known(
        items,
        KNOWN_REGIONS,
        "allowed countries: unknown region code(s)",
        f"use ISO 3166 alpha-2 codes such as NL, GB ({NON_GEOGRAPHIC_REGION} = non-geographic "
        "numbers)",
    )


def _parse_number_types(setting: str) -> frozenset[str]:
    items = [item.upper() for item in _items(setting)]
    if not items or items == [DEFAULT.upper()]:
        return DEFAULT_BLOCKED_NUMBER_TYPES
    if items == [NONE.upper()]:
        return frozenset()
    if DEFAULT.upper() in items or NONE.upper() in items:
        raise ValueError(
            f"blocked number types: '{DEFAULT}' and '{NONE}' must be used alone; "
            "list the types explicitly instead"
        )
    return _known(
        items,
        NUMBER_TYPE_NAMES,
        "blocked number types: unknown type(s)",
        f"known types are {', '.join(sorted(NUMBER_TYPE_NAMES))}",
    )


def _parse_callers(setting: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The valid caller ids (E.164), and why each other entry is not one (never the number
    itself: it is a phone number)."""
    callers, unusable = set(), []
    for position, item in enumerate(_items(setting), start=1):
        try:
            callers.add(parse_phone(item).e164)
        except PhoneNumberError as error:
            unusable.append(f"entry {position} {error}")
    return frozenset(callers), tuple(unusable)


def _type_label(number_type: str) -> str:
    return "unknown-type" if number_type == "UNKNOWN" else number_type.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class DialPolicy:
    """``allowed_countries`` None = any; ``allowed_callers`` empty = any caller id, unless
    ``callers_restricted`` (the setting named callers, none of them a valid number: then no
    caller id is allowed). ``unusable_callers`` says why each ignored entry is not a number."""

    allowed_countries: frozenset[str] | None = None
    blocked_number_types: frozenset[str] = DEFAULT_BLOCKED_NUMBER_TYPES
    allowed_callers: frozenset[str] = field(default_factory=frozenset)
    callers_restricted: bool = False
    unusable_callers: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls,
        allowed_countries: str = ANY,
        blocked_number_types: str = DEFAULT,
        allowed_callers: str = "",
    ) -> DialPolicy:
        """Parse the template parameters; raise ValueError on an unknown country or type.

        * ``allowed_countries``: ``*`` or empty = any, else ISO codes (``NL,BE,DE``).
        * ``blocked_number_types``: ``default`` or empty = :data:`DEFAULT_BLOCKED_NUMBER_TYPES`,
          ``none`` = block nothing, else ``PhoneNumberType`` names (``PREMIUM_RATE,PAGER``).
        * ``allowed_callers``: empty = any, else international numbers (normalised to E.164).
          An entry that is E.164-shaped (the template's pattern) but not a valid number
          cannot be refused at deploy time; it is ignored and reported in
          ``unusable_callers`` rather than failing every request at cold start, and it never
          widens the list (issue 14: a parameter value must not break every request).
        """
        callers, unusable = _parse_callers(allowed_callers)
        return cls(
            allowed_countries=_parse_countries(allowed_countries),
            blocked_number_types=_parse_number_types(blocked_number_types),
            allowed_callers=callers,
            callers_restricted=bool(callers or unusable),
            unusable_callers=unusable,
        )

    def check(self, request: DtmfCallRequest) -> list[PolicyViolation]:
        """Every violation of this policy by ``request`` (empty when it may be placed)."""
        violations: list[PolicyViolation] = []
        if self.callers_restricted and request.caller.e164 not in self.allowed_callers:
            ignored = (
                f" ({len(self.unusable_callers)} entries of its allowed-callers setting are not "
                "valid numbers and were ignored)"
                if self.unusable_callers
                else ""
            )
            violations.append(
                PolicyViolation(
                    RULE_CALLER,
                    "caller",
                    f"caller id {mask(request.caller.e164)} is not one this service may use; "
                    f"ask the operator to allow it{ignored}",
                )
            )
        for path, info in request.callee_numbers():  # parsed once, when validated
            if self.allowed_countries is not None and info.region not in self.allowed_countries:
                where = (
                    "non-geographic numbers"
                    if info.region == NON_GEOGRAPHIC_REGION
                    else f"{info.region} (+{info.country_code})"
                )
                violations.append(
                    PolicyViolation(
                        RULE_COUNTRY, path, f"calls to {where} are not allowed by this service"
                    )
                )
            if info.number_type in self.blocked_number_types:
                violations.append(
                    PolicyViolation(
                        RULE_NUMBER_TYPE,
                        path,
                        f"calls to {_type_label(info.number_type)} numbers "
                        f"({info.number_type}, {info.region}) are not allowed by this service",
                    )
                )
        return violations

    def enforce(self, request: DtmfCallRequest) -> None:
        """Raise :class:`PolicyRefused` with every violation, if there is any."""
        violations = self.check(request)
        if violations:
            raise PolicyRefused(violations)
