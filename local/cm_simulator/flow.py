"""Pure call-flow logic of a CM.com "Request DTMF" call (contract §4).

Given the digit rules of an instruction and a callee script, :func:`simulate` works out
everything that happens on the call - ringing, answer or not, prompts, each attempt's
keys, validation, hang-up - and the final result code, without threads, sockets or
clocks. The server replays the returned steps in simulated time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

#: Every key of a DTMF keypad (A-D are the rarely used fourth column).
DTMF_KEYS = "0123456789*#ABCD"

# Defaults used when the instruction leaves a digit setting unset (contract §1, research §7 Q5).
DEFAULT_MIN_DIGITS = 1
DEFAULT_MAX_DIGITS = 64
DEFAULT_MAX_ATTEMPTS = 1
DEFAULT_TIMEOUT_MS = 5000
DEFAULT_TERMINATORS = "#"
DEFAULT_REGEX = "[0-9]*"
DEFAULT_MAX_RINGING_TIMEOUT_S = 60

# Simulated durations in milliseconds (multiplied by the time scale when replayed).
RING_BEFORE_ANSWER_MS = 3000
RING_BEFORE_REJECT_MS = 2000
SETUP_FAILURE_MS = 500
PROMPT_MS = 500
KEY_INTERVAL_MS = 200

#: ``matcher(pattern, text)``: True on a full match, False when not matching, None when
#: the pattern could not be evaluated (treated as not matching).
Matcher = Callable[[str, str], bool | None]


def plain_fullmatch(pattern: str, text: str) -> bool | None:
    """Unguarded full-match with :mod:`re` (fine for tests and trusted patterns)."""
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return None


class Pickup(StrEnum):
    """What the callee's phone does when it rings."""

    ANSWER = "answer"
    NO_ANSWER = "no-answer"
    REJECT = "reject"
    FAIL = "fail"


class EndedBy(StrEnum):
    """Why key collection of one attempt stopped."""

    TERMINATOR = "terminator"
    MAX_DIGITS = "max-digits"
    TIMEOUT = "timeout"
    HANGUP = "hangup"


@dataclass(frozen=True)
class DigitRules:
    """The digit settings of an instruction with defaults applied."""

    min_digits: int = DEFAULT_MIN_DIGITS
    max_digits: int = DEFAULT_MAX_DIGITS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    terminators: str = DEFAULT_TERMINATORS
    regex: str = DEFAULT_REGEX


@dataclass(frozen=True)
class CallSettings:
    """Everything in an instruction that shapes the course of a call."""

    rules: DigitRules = field(default_factory=DigitRules)
    max_ringing_timeout_s: int = DEFAULT_MAX_RINGING_TIMEOUT_S
    has_valid_prompt: bool = False
    has_invalid_prompt: bool = False


@dataclass(frozen=True)
class Script:
    """What a callee does: pick up or not, the keys typed per attempt, maybe hang up.

    ``keys[i]`` is typed on attempt ``i + 1``; an empty string (or an attempt beyond the
    list) types nothing, so the key timeout expires. ``hangup_after_attempt = N`` makes the
    callee hang up right after typing attempt N's keys (0 = during the first prompt).
    """

    pickup: Pickup = Pickup.ANSWER
    keys: tuple[str, ...] = ()
    hangup_after_attempt: int | None = None

    def keys_for(self, attempt: int) -> str:
        """Keys typed on 1-based ``attempt``."""
        return self.keys[attempt - 1] if attempt <= len(self.keys) else ""

    def to_json(self) -> dict[str, object]:
        return {
            "pickup": self.pickup.value,
            "keys": list(self.keys),
            "hangup-after-attempt": self.hangup_after_attempt,
        }


@dataclass(frozen=True)
class Collected:
    """Result of feeding one attempt's keys into the collector."""

    pressed: str  # keys consumed, including a terminator
    digits: str  # keys stored (no terminator)
    ended_by: EndedBy
    discarded: str  # keys typed after collection stopped


def collect(keys: str, rules: DigitRules) -> Collected:
    """Consume ``keys`` in order until a terminator, ``max-digits`` or their end (timeout)."""
    digits: list[str] = []
    for index, key in enumerate(keys):
        if key in rules.terminators:
            return Collected(
                keys[: index + 1], "".join(digits), EndedBy.TERMINATOR, keys[index + 1 :]
            )
        digits.append(key)
        if len(digits) >= rules.max_digits:
            return Collected(
                keys[: index + 1], "".join(digits), EndedBy.MAX_DIGITS, keys[index + 1 :]
            )
    return Collected(keys, "".join(digits), EndedBy.TIMEOUT, "")


def is_valid(digits: str, rules: DigitRules, matcher: Matcher = plain_fullmatch) -> bool:
    """Contract §4.4: ``min-digits`` <= length <= ``max-digits`` and a FULL regex match."""
    if not rules.min_digits <= len(digits) <= rules.max_digits:
        return False
    return matcher(rules.regex, digits) is True


@dataclass(frozen=True)
class Result:
    """The ``result`` object of a ``dtmf-finished`` callback."""

    code: int
    description: str
    sip_disconnect_code: str
    sip_disconnect_reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "description": self.description,
            "sip-disconnect-code": self.sip_disconnect_code,
            "sip-disconnect-reason": self.sip_disconnect_reason,
        }


CANCELLED = Result(9, "Cancelled", "487", "Request Terminated")
FINISHED = Result(10, "Finished successfully", "BYE", "")
FAILED = Result(11, "Failed", "503", "Service Unavailable")
REJECTED = Result(12, "Call rejected", "486", "Busy Here")


@dataclass(frozen=True)
class Attempt:
    """One round of prompt + key collection."""

    number: int
    keys: str  # what the script typed on this attempt
    pressed: str  # keys consumed by the collector (terminator included)
    digits: str
    ended_by: EndedBy
    valid: bool
    callee_hung_up: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "attempt": self.number,
            "keys": self.keys,
            "digits": self.digits,
            "ended-by": self.ended_by.value,
            "valid": self.valid,
            "callee-hung-up": self.callee_hung_up,
        }


@dataclass(frozen=True)
class Step:
    """Something that happens ``after_ms`` simulated milliseconds after the previous step."""

    kind: str
    after_ms: int
    text: str
    state: str | None = None  # new call-record state, if this step changes it
    attempt: Attempt | None = None


@dataclass(frozen=True)
class Outcome:
    """Everything that happened on a call, and how it ended."""

    steps: tuple[Step, ...]
    attempts: tuple[Attempt, ...]
    digits: str
    result: Result
    hung_up_by: str | None  # "callee", "system" or None when never answered

    @property
    def duration_ms(self) -> int:
        return sum(step.after_ms for step in self.steps)


def describe_attempt(attempt: Attempt, show_keys: bool = True) -> str:
    """``attempt 1: keys "1234#" -> digits "1234" (terminator) valid`` (or only counts)."""
    if attempt.callee_hung_up and attempt.ended_by is EndedBy.HANGUP:
        how = "callee hung up"
    else:
        how = attempt.ended_by.value
    verdict = "valid" if attempt.valid else "invalid"
    if show_keys:
        typed = f'keys "{attempt.keys}" -> digits "{attempt.digits}"'
    else:
        typed = f"{len(attempt.keys)} key(s) -> {len(attempt.digits)} digit(s)"
    return f"attempt {attempt.number}: {typed} ({how}) {verdict}"


def simulate(script: Script, settings: CallSettings, matcher: Matcher = plain_fullmatch) -> Outcome:
    """Work out the whole call for ``script`` under ``settings`` (contract §4)."""
    rules = settings.rules
    steps: list[Step] = [Step("ringing", 0, "ringing", state="ringing")]
    ring_limit_ms = settings.max_ringing_timeout_s * 1000

    if script.pickup is Pickup.NO_ANSWER:
        steps.append(
            Step("no-answer", ring_limit_ms, f"no answer within {settings.max_ringing_timeout_s} s")
        )
        return Outcome(tuple(steps), (), "", CANCELLED, None)
    if script.pickup is Pickup.REJECT:
        steps.append(Step("rejected", min(RING_BEFORE_REJECT_MS, ring_limit_ms), "rejected"))
        return Outcome(tuple(steps), (), "", REJECTED, None)
    if script.pickup is Pickup.FAIL:
        steps.append(Step("failed", SETUP_FAILURE_MS, "call could not be set up"))
        return Outcome(tuple(steps), (), "", FAILED, None)

    steps.append(
        Step("answered", min(RING_BEFORE_ANSWER_MS, ring_limit_ms), "answered", "in-progress")
    )
    if script.hangup_after_attempt == 0:
        steps.append(Step("hangup", PROMPT_MS // 2, "callee hung up during the prompt"))
        return Outcome(tuple(steps), (), "", FINISHED, "callee")

    attempts: list[Attempt] = []
    for number in range(1, rules.max_attempts + 1):
        steps.append(Step("prompt", PROMPT_MS, "prompt played"))
        keys = script.keys_for(number)
        got = collect(keys, rules)
        hangs_up = script.hangup_after_attempt == number
        ended_by = got.ended_by
        took_ms = len(got.pressed) * KEY_INTERVAL_MS
        if ended_by is EndedBy.TIMEOUT:
            if hangs_up:
                ended_by = EndedBy.HANGUP
            else:
                took_ms += rules.timeout_ms
        attempt = Attempt(
            number=number,
            keys=keys,
            pressed=got.pressed,
            digits=got.digits,
            ended_by=ended_by,
            valid=is_valid(got.digits, rules, matcher),
            callee_hung_up=hangs_up,
        )
        attempts.append(attempt)
        steps.append(Step("attempt", took_ms, describe_attempt(attempt), attempt=attempt))
        if hangs_up:
            steps.append(Step("hangup", 0, "callee hung up"))
            return Outcome(tuple(steps), tuple(attempts), attempt.digits, FINISHED, "callee")
        if attempt.valid:
            if settings.has_valid_prompt:
                steps.append(Step("valid-prompt", PROMPT_MS, "valid prompt played"))
            break
        if settings.has_invalid_prompt:
            steps.append(Step("invalid-prompt", PROMPT_MS, "invalid prompt played"))

    steps.append(Step("hangup", 0, "hung up"))
    return Outcome(tuple(steps), tuple(attempts), attempts[-1].digits, FINISHED, "system")
