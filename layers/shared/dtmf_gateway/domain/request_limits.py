"""The ``POST /v1/dtmf-calls`` body's limits, defaults and enums.

CM's ranges come from ``docs/cm-dtmf-contract.md`` §1 and the seed; the gateway's own
limits are marked *gateway*. Imported by the field validators, the cross-field rules, the
model and the error messages, so that every rule is stated once.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from dtmf_gateway.domain.digits import (  # re-exported: the digit limits live with the digits
    DEFAULT_MAX_DIGITS,
    DEFAULT_MIN_DIGITS,
    DEFAULT_REGEX,
    MAX_DIGITS_LIMIT,
    MIN_DIGITS_LIMIT,
)
from dtmf_gateway.domain.ids import (  # re-exported: the id rule is shared with path reading
    INSTRUCTION_ID_CHARACTERS,
    INSTRUCTION_ID_MAX_LENGTH,
    INSTRUCTION_ID_PATTERN,
)
from dtmf_gateway.domain.phone import MAX_PHONE_INPUT_LENGTH

__all__ = [
    "DEFAULT_MAX_DIGITS",
    "DEFAULT_MIN_DIGITS",
    "DEFAULT_REGEX",
    "INSTRUCTION_ID_CHARACTERS",
    "INSTRUCTION_ID_MAX_LENGTH",
    "INSTRUCTION_ID_PATTERN",
    "MAX_DIGITS_LIMIT",
    "MAX_PHONE_INPUT_LENGTH",
    "MIN_DIGITS_LIMIT",
]

#: Most numbers in ``callees`` (gateway; CM documents no limit).
MAX_CALLEES: Final = 20
#: ``max-ringing-timeout`` in seconds (CM).
MIN_RINGING_TIMEOUT: Final = 10
MAX_RINGING_TIMEOUT: Final = 60
DEFAULT_RINGING_TIMEOUT: Final = 60
#: Prompt texts (CM: 1-1000 characters).
MAX_PROMPT_LENGTH: Final = 1000
#: ``max-attempts`` (CM: 1-10; default is the gateway's, CM documents none).
MIN_ATTEMPTS: Final = 1
MAX_ATTEMPTS: Final = 10
DEFAULT_MAX_ATTEMPTS: Final = 1
#: ``timeout`` in milliseconds (CM).
MIN_KEY_TIMEOUT_MS: Final = 1000
MAX_KEY_TIMEOUT_MS: Final = 10000
DEFAULT_KEY_TIMEOUT_MS: Final = 5000
#: ``terminators`` default (CM).
DEFAULT_TERMINATORS: Final = "#"
#: ``voice`` (SDK defaults; the cap on ``number`` is the gateway's).
DEFAULT_LANGUAGE: Final = "en-GB"
LANGUAGE_PATTERN: Final = r"^[a-z]{2}-[A-Z]{2}$"
MIN_VOICE_NUMBER: Final = 1
MAX_VOICE_NUMBER: Final = 99
MIN_VOLUME: Final = -4
MAX_VOLUME: Final = 4
#: ``metadata`` (gateway).
MAX_METADATA_KEYS: Final = 10
MAX_METADATA_KEY_LENGTH: Final = 40
MAX_METADATA_VALUE_LENGTH: Final = 256
METADATA_KEY_CHARACTERS: Final = "A-Z a-z 0-9 _ . -"

#: Most problems listed in one error report (a body with thousands of bad keys must not
#: cost thousands of suggestions, nor echo them all back); the rest are counted.
MAX_REPORTED_PROBLEMS: Final = 100
#: Longest unknown key echoed back in a problem's ``field``.
MAX_ECHOED_KEY_LENGTH: Final = 64

#: Keys of CM's instruction the gateway refuses, and why.
REFUSED_KEYS: Final[Mapping[str, str]] = {
    "callback-url": (
        "is set by the service itself (every call gets its own authenticated callback "
        "URL); remove it and read results from GET /v1/dtmf-calls/{id} or the result events"
    ),
    "voicemail-response": (
        "voicemail detection is not available for DTMF calls (CM does not support it); remove it"
    ),
}

NO_DISABLE_VALIDATION: Final = (
    "must be false: the gateway validates every callee; remove invalid numbers instead"
)

# ---------------------------------------------------------------------------------------
# Enums: canonical names (any case) or the SDK's integers
# ---------------------------------------------------------------------------------------


class PromptType(StrEnum):
    """How CM interprets a prompt: an audio file path, text to speak, or SSML."""

    FILE = "File"
    TTS = "TTS"
    TTS_SSML = "TTS_SSML"


class Gender(StrEnum):
    MALE = "Male"
    FEMALE = "Female"


PROMPT_TYPE_CODES: Final[Mapping[int, PromptType]] = {
    0: PromptType.FILE,
    1: PromptType.TTS,
    2: PromptType.TTS_SSML,
}
GENDER_CODES: Final[Mapping[int, Gender]] = {0: Gender.MALE, 1: Gender.FEMALE}

PROMPT_TYPE_RULE: Final = "must be one of File, TTS, TTS_SSML (or the SDK's numbers 0, 1, 2)"
GENDER_RULE: Final = "must be Male or Female (or the SDK's numbers 0 and 1)"


def enum_lookup[E: StrEnum](enum: type[E], codes: Mapping[int, E], value: object) -> E | None:
    """The member for a name (any case) or SDK integer; None when ``value`` is neither."""
    if isinstance(value, enum):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return codes.get(value)
    if isinstance(value, str):
        folded = value.casefold()
        for member in enum:
            if member.value.casefold() == folded:
                return member
    return None


def parse_prompt_type(value: object) -> PromptType | None:
    """``File``/``TTS``/``TTS_SSML`` (any case) or 0/1/2 → :class:`PromptType`, else None."""
    return enum_lookup(PromptType, PROMPT_TYPE_CODES, value)
