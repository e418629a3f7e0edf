"""DTMF input rules: the ``regex`` setting, and re-checking typed digits.

The keypad and the digit limits are in :mod:`~dtmf_gateway.domain.keypad`, the pattern's
tree in :mod:`~dtmf_gateway.domain.regex_tree`, the backtracking analysis in
:mod:`~dtmf_gateway.domain.regex_analysis`; this module puts them together. Used twice:
by the request model (is this ``regex`` acceptable?) and when a callback arrives (are the
digits the callee typed valid?).

A client-supplied pattern must never be able to hang anything:

1. At most :data:`MAX_PATTERN_LENGTH` characters, in standard syntax (what the stdlib
   ``re`` parser accepts, so that CM's engine reads it the same way), no repetition count
   above :data:`MAX_REPEAT_COUNT` and at most :data:`MAX_EXPANDED_SIZE` once repetitions
   are expanded - all checked *before* compiling, because the ``regex`` module expands
   fixed repetitions at compile time. Then compiled with the third-party ``regex`` module
   in ``VERSION0`` mode (the ``re`` dialect), which supports a time limit.
2. Static backtracking analysis: the pattern is walked the way a classic backtracking
   engine (the stdlib ``re``, .NET's ``Regex`` on CM's side) would walk it, over
   adversarial keypad inputs (each key repeated, each pair of keys alternated), counting
   the distinct paths. Nested or overlapping repetition such as ``(1+)+``, ``(\\d*)*#`` or
   ``(1|11)*2`` has a path count that grows exponentially with the input, and is refused
   with a message saying it can backtrack catastrophically. This is deterministic (no
   clocks), and it protects CM as well as us: the ``regex`` module guards many such
   patterns internally, a backtracking engine does not.
3. Timed probes with the engine that evaluates digits here: for every DTMF key ``k``,
   ``k`` repeated 64 times, and ``k`` repeated 63 times followed by each other key, each
   with a short timeout and a total budget; a probe that runs out of time refuses the
   pattern the same way.
4. Every evaluation is a FULL match with a time limit (:data:`MATCH_TIMEOUT_SECONDS`); a
   timeout counts as "not valid" and never raises.

Compiled patterns (and refusals) are cached by pattern string, so repeated evaluation and
repeated requests with the same pattern are cheap.
"""

from __future__ import annotations

__all__ = [
    "CATASTROPHIC_MESSAGE",
    "DEFAULT_MAX_DIGITS",
    "DEFAULT_MIN_DIGITS",
    "DTMF_KEYS",
    "MAX_DIGITS_LIMIT",
    "MIN_DIGITS_LIMIT",
    "CompiledRegex",
    "InputRegexError",
    "InputRules",
    "anchored",
    "compile_input_regex",
    "is_dtmf",
]

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

import regex

from dtmf_gateway.domain.keypad import (
    DEFAULT_MAX_DIGITS,
    DEFAULT_MIN_DIGITS,
    DTMF_KEYS,
    MAX_DIGITS_LIMIT,
    MIN_DIGITS_LIMIT,
    is_dtmf,
)
from dtmf_gateway.domain.regex_analysis import CATASTROPHIC_MESSAGE, TOO_SLOW_MESSAGE, count_paths
from dtmf_gateway.domain.regex_tree import (
    MAX_EXPANDED_SIZE,
    TOO_BIG_MESSAGE,
    Node,
    error_text,
    parse,
    size_problem,
)

#: CM's default ``regex``.
DEFAULT_REGEX: Final = "[0-9]*"
#: Longest ``regex`` accepted.
MAX_PATTERN_LENGTH: Final = 200

#: Time limit of every evaluation of a pattern against typed digits.
MATCH_TIMEOUT_SECONDS: Final = 0.1
#: Time limit of one probe at request time, and of all probes of one pattern together.
PROBE_TIMEOUT_SECONDS: Final = 0.02
PROBE_BUDGET_SECONDS: Final = 0.25
#: Length of the timed probes (= the most digits a callee can type).
PROBE_LENGTH: Final = MAX_DIGITS_LIMIT


class InputRegexError(ValueError):
    """The ``regex`` setting is refused; ``str(error)`` says why."""


# --------------------------------------------------------------------------------------
# Compiled, time-limited patterns
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRegex:
    """A vetted pattern; :meth:`fullmatch` never raises and never runs longer than
    :data:`MATCH_TIMEOUT_SECONDS` (a timeout counts as no match)."""

    pattern: str
    compiled: Any = field(repr=False, compare=False)

    def fullmatch(self, text: str) -> bool:
        try:
            return self.compiled.fullmatch(text, timeout=MATCH_TIMEOUT_SECONDS) is not None
        except TimeoutError:
            return False


def compile_input_regex(pattern: str, *, probe: bool = True, timed: bool = True) -> CompiledRegex:
    """Compile a client ``regex`` setting, refusing anything that could hang evaluation.

    ``probe=False`` skips the static analysis and the timed probes (for patterns that
    were vetted when the request was accepted, read back to classify digits); ``timed=False``
    keeps the static analysis and skips only the timed probes, whose time limits depend on
    the machine's load (a stored request checked again at dial time or by a campaign's
    placer). Every evaluation stays time-limited. Raises :class:`InputRegexError`.
    """
    result = _compile_cached(pattern, probe)
    if isinstance(result, str):
        raise InputRegexError(result)
    if probe and timed:
        problem = _probed(result)
        if problem is not None:
            raise InputRegexError(problem)
    return result


@lru_cache(maxsize=256)
def _compile_cached(pattern: str, probe: bool) -> CompiledRegex | str:
    r"""The compiled pattern, or the refusal message of the checks that do not depend on
    the machine's load (cached for good: they always answer the same).

    Order matters: the pattern is parsed and its repetition counts bounded *before* the
    ``regex`` module compiles it, because that module expands fixed repetitions while
    compiling (``(?:(?:\d{64}){64}){64}`` alone would take gigabytes).
    """
    root = _parse_bounded(pattern, keep_ambiguity=probe)
    if isinstance(root, str):
        return root
    compiled = _compile(pattern)
    if isinstance(compiled, str):
        return compiled
    problem = count_paths(root) if probe else None
    return problem or _anchor_problem(pattern) or CompiledRegex(pattern, compiled)


#: How long a timed-probe refusal is remembered: long enough that a client repeating a
#: known-bad pattern does not make us re-run its probes on every request (up to
#: PROBE_BUDGET_SECONDS each), short enough that a valid pattern refused in one busy moment
#: is accepted again soon (the probes' limits are wall-clock: they depend on the load).
PROBE_REFUSAL_SECONDS: Final = 60.0
_PROBES_PASSED: set[str] = set()
_PROBES_REFUSED: dict[str, tuple[str, float]] = {}
_PROBE_MEMORY: Final = 256


def forget_probes() -> None:
    """Forget every pattern's compiled form and timed-probe answer (tests: a new
    execution environment)."""
    _compile_cached.cache_clear()
    _PROBES_PASSED.clear()
    _PROBES_REFUSED.clear()


def _probed(compiled: CompiledRegex) -> str | None:
    """The timed probes' refusal of ``compiled`` (None: it passed). A pass is remembered for
    good; a refusal for PROBE_REFUSAL_SECONDS."""
    pattern = compiled.pattern
    if pattern in _PROBES_PASSED:
        return None
    now = time.monotonic()
    refused = _PROBES_REFUSED.get(pattern)
    if refused is not None and now - refused[1] < PROBE_REFUSAL_SECONDS:
        return refused[0]
    problem = _timed_probes(compiled.compiled)
    for memory in (_PROBES_PASSED, _PROBES_REFUSED):
        if len(memory) >= _PROBE_MEMORY:
            memory.clear()
    if problem is None:
        _PROBES_PASSED.add(pattern)
        _PROBES_REFUSED.pop(pattern, None)
    else:
        _PROBES_REFUSED[pattern] = (problem, time.monotonic())
    return problem


def anchored(pattern: str) -> str:
    """``pattern`` as sent to CM: ``^(?:pattern)$``. CM does not document whether it matches
    in full or finds anywhere; anchored, both readings agree with our own full match."""
    return f"^(?:{pattern})$"


_UNANCHORABLE_MESSAGE: Final = (
    "cannot be sent to CM anchored as ^(?:…)$ ({error}); scope inline flags to a group, "
    "e.g. (?i:…) instead of (?i)…"
)


def _parse_bounded(pattern: str, *, keep_ambiguity: bool) -> Node | str:
    """The pattern's tree, or why its text, syntax or size is refused."""
    if not pattern:
        return f"must not be empty; leave it out (or send null) for the default {DEFAULT_REGEX}"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"must be at most {MAX_PATTERN_LENGTH} characters"
    control = next((ch for ch in pattern if ord(ch) < 32 or 127 <= ord(ch) <= 159), None)
    if control is not None:
        # Never a key, and forwarded to CM as is: refused like in prompts (write \n etc.).
        return (
            f"must not contain control characters (U+{ord(control):04X} at position "
            f"{pattern.index(control) + 1})"
        )
    root = parse(pattern, keep_ambiguity=keep_ambiguity)
    if isinstance(root, str):
        return root
    return size_problem(root) or root


def _anchor_problem(pattern: str) -> str | None:
    try:
        re.compile(anchored(pattern))
    except re.error as error:
        return _UNANCHORABLE_MESSAGE.format(error=error.msg)
    return None


def _compile(pattern: str) -> Any:
    """The ``regex`` module's compiled pattern (``VERSION0``), or why it does not compile."""
    try:
        return regex.compile(pattern, regex.VERSION0)
    except regex.error as error:
        return f"is not a valid regular expression: {error_text(error)}"
    except (OverflowError, RecursionError, MemoryError):
        return TOO_BIG_MESSAGE.format(limit=MAX_EXPANDED_SIZE)


def _probe_inputs() -> Iterator[str]:
    for key in DTMF_KEYS:
        yield key * PROBE_LENGTH
        for other in DTMF_KEYS:
            if other != key:
                yield key * (PROBE_LENGTH - 1) + other


def _timed_probes(compiled: Any) -> str | None:
    deadline = time.monotonic() + PROBE_BUDGET_SECONDS
    for text in _probe_inputs():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return TOO_SLOW_MESSAGE
        limit = min(PROBE_TIMEOUT_SECONDS, remaining)
        try:
            compiled.fullmatch(text, timeout=limit)
        except TimeoutError:
            return CATASTROPHIC_MESSAGE if limit >= PROBE_TIMEOUT_SECONDS else TOO_SLOW_MESSAGE
    return None


# --------------------------------------------------------------------------------------
# Input rules
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _default_regex() -> CompiledRegex:
    return compile_input_regex(DEFAULT_REGEX, probe=False)


@dataclass(frozen=True, slots=True)
class InputRules:
    """When typed digits are valid: ``min_digits`` <= length <= ``max_digits``, only DTMF
    keys, and a full match of ``regex`` within the time limit."""

    min_digits: int = DEFAULT_MIN_DIGITS
    max_digits: int = DEFAULT_MAX_DIGITS
    regex: CompiledRegex = field(default_factory=_default_regex)

    def __post_init__(self) -> None:
        if not MIN_DIGITS_LIMIT <= self.min_digits <= self.max_digits <= MAX_DIGITS_LIMIT:
            raise ValueError(
                f"need {MIN_DIGITS_LIMIT} <= min_digits <= max_digits <= {MAX_DIGITS_LIMIT}"
            )

    @classmethod
    def from_values(
        cls,
        min_digits: int | None = None,
        max_digits: int | None = None,
        regex: str | None = None,
        *,
        probe: bool = False,
    ) -> InputRules:
        """Rules from stored settings, CM's defaults for the unset ones (pattern not
        re-probed by default: it was vetted when the request was accepted)."""
        return cls(
            min_digits=DEFAULT_MIN_DIGITS if min_digits is None else min_digits,
            max_digits=DEFAULT_MAX_DIGITS if max_digits is None else max_digits,
            regex=_default_regex() if regex is None else compile_input_regex(regex, probe=probe),
        )

    def check(self, digits: str) -> bool:
        """True when ``digits`` are valid input. Never raises, never hangs."""
        if not isinstance(digits, str):
            return False  # type: ignore[unreachable]
        if not self.min_digits <= len(digits) <= self.max_digits:
            return False
        if not is_dtmf(digits):
            return False
        return self.regex.fullmatch(digits)
