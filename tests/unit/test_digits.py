"""DTMF input rules and the ``regex`` setting: vetted, time-limited, never hanging."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtmf_gateway.domain import digits
from dtmf_gateway.domain.digits import (
    CATASTROPHIC_MESSAGE,
    DTMF_KEYS,
    MAX_PATTERN_LENGTH,
    CompiledRegex,
    InputRegexError,
    InputRules,
    compile_input_regex,
    is_dtmf,
)

ATTACKS = [
    r"(1+)+$",
    r"(1+)+",
    r"(A+)+$",
    r"(?i)(a+)+$",
    r"(1|11)*2",
    r"(11|1)*$2",
    r"(\d*)*#",
    r"(\d+)*$",
    r"(.*)*#",
    r"(1*)*2",
    r"(?:\d?){20}\d{20}",
    r"(\d|\d\d)+A",
    r"(\d\d?)+$",
    r"(\d{1,10}){1,10}",
    r"(?:\d{1,8}){1,8}#",
    r"\d*\d*\d*\d*\d*\d*\d*",
    r"^(([0-9])+)+#$",
]

GOOD = [
    r"[0-9]*",
    r"^[0-9]{4}$",
    r"\d{4,8}",
    r"[0-9]{1,64}",
    r"1234#?",
    r"(?:[0-9]{4}|[0-9]{6})",
    r"(0|[1-9][0-9]*)",
    r"[*#]?\d+",
    r"\d+#\d+",
    r"(\d{3})+",
    r"(?:\d{2})*",
    r"(\d)\1\d*",
    r"(?=\d)\d*",
    r"(?>\d+)+#",
    r"[A-D]\d{3}",
    r"(a+)+$",  # 'a' is no keypad key: it can never match, so it cannot backtrack
]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    digits.forget_probes()


@pytest.mark.parametrize("pattern", ATTACKS)
def test_catastrophic_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InputRegexError) as caught:
        compile_input_regex(pattern)
    assert str(caught.value) == CATASTROPHIC_MESSAGE
    assert "backtrack catastrophically" in str(caught.value)


@pytest.mark.parametrize("pattern", GOOD)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    compiled = compile_input_regex(pattern)
    assert compiled.pattern == pattern


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "must not be empty"),
        ("(", "is not a valid regular expression (standard syntax"),
        ("(", "missing ), unterminated subpattern at position 0"),
        ("[0-9", "unterminated character set at position 0"),
        ("*1", "nothing to repeat at position 0"),
        (r"\p{N}+", "bad escape \\p at position 0"),
        (r"(?r)\d+", "unknown extension ?r at position 1"),
        ("1" * (MAX_PATTERN_LENGTH + 1), f"at most {MAX_PATTERN_LENGTH} characters"),
        (r"\d{65}", "more than 64 times"),
        (r"\d{0,100}", "more than 64 times"),
        (r"\d{65,}", "more than 64 times"),
        (r"(?:(?:\d{64}){64}){64}", "multiply to more than 4096"),
        (r"(?:ab){4294967294}", "more than 64 times"),
        (r"((((\d{1,64}){1,64}){1,64}){1,64})", "multiply to more than 4096"),
    ],
)
def test_unusable_patterns_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(InputRegexError) as caught:
        compile_input_regex(pattern)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("length", "ok"), [(MAX_PATTERN_LENGTH, True), (MAX_PATTERN_LENGTH + 1, False)]
)
def test_pattern_length_bound(length: int, ok: bool) -> None:
    pattern = "1" * length
    if ok:
        assert compile_input_regex(pattern).fullmatch("1" * length)
    else:
        with pytest.raises(InputRegexError):
            compile_input_regex(pattern)


def test_expanded_size_limit_is_inclusive() -> None:
    compile_input_regex(r"(?:\d{64}){64}", probe=False)  # 4096: accepted
    with pytest.raises(InputRegexError, match="multiply"):
        compile_input_regex(r"(?:\d{64}){64}1", probe=False)  # 4097


def test_compiled_patterns_and_refusals_are_cached() -> None:
    assert compile_input_regex(r"\d{4}") is compile_input_regex(r"\d{4}")
    with pytest.raises(InputRegexError):
        compile_input_regex(r"(1+)+$")
    misses = digits._compile_cached.cache_info().misses
    with pytest.raises(InputRegexError):
        compile_input_regex(r"(1+)+$")
    assert digits._compile_cached.cache_info().misses == misses


def test_timed_probes_refuse_what_the_engine_itself_finds_slow() -> None:
    class Slow:
        def fullmatch(self, text: str, timeout: float) -> Any:
            raise TimeoutError

    assert digits._timed_probes(Slow()) == CATASTROPHIC_MESSAGE


def test_timed_probes_cover_every_key() -> None:
    probes = list(digits._probe_inputs())
    for key in DTMF_KEYS:
        assert key * 64 in probes
        assert all(key * 63 + other in probes for other in DTMF_KEYS if other != key)
    assert all(len(p) == 64 for p in probes)


def test_full_match_not_search() -> None:
    compiled = compile_input_regex(r"\d{4}")
    assert compiled.fullmatch("1234")
    assert not compiled.fullmatch("12345")
    assert not compiled.fullmatch("x1234")


def test_evaluation_timeout_counts_as_no_match() -> None:
    class Hanging:
        def fullmatch(self, text: str, timeout: float) -> Any:
            assert timeout == digits.MATCH_TIMEOUT_SECONDS
            raise TimeoutError

    assert CompiledRegex("x", Hanging()).fullmatch("1234") is False


def test_check_never_hangs_on_an_unprobed_pathological_pattern() -> None:
    rules = InputRules.from_values(1, 64, r"(11|1)*$2", probe=False)
    # The regex module needs far longer than the time limit on this input; the limit makes
    # check() give up and answer False instead of hanging.
    assert rules.check("1" * 63 + "2") is False
    assert rules.check("1" * 40) is False


def test_regex_module_really_times_out_on_that_pattern() -> None:
    compiled = regex.compile(r"(11|1)*$2", regex.VERSION0)
    with pytest.raises(TimeoutError):
        compiled.fullmatch("1" * 63 + "2", timeout=0.01)


@pytest.mark.parametrize(
    ("rules", "typed", "valid"),
    [
        (InputRules(), "1234", True),
        (InputRules(), "", False),
        (InputRules(), "1" * 64, True),
        (InputRules(), "1" * 65, False),
        (InputRules(), "12*4", False),  # default regex [0-9]*
        (InputRules.from_values(4, 4, r"\d{4}"), "1234", True),
        (InputRules.from_values(4, 4, r"\d{4}"), "123", False),
        (InputRules.from_values(4, 6, r"\d+"), "12345", True),
        (InputRules.from_values(4, 6, r"\d+"), "1234567", False),
        (InputRules.from_values(1, 10, r"[0-9*#A-D]+"), "1*#A", True),
        (InputRules.from_values(1, 10, r".+"), "12x", False),  # not a keypad key
        (InputRules.from_values(1, 10, r".+"), "12 ", False),
        (InputRules.from_values(2, 3, None), "12", True),
        (InputRules.from_values(None, None, None), "9" * 64, True),
        (InputRules.from_values(1, 64, r"^1234$"), "1234", True),
    ],
)
def test_input_rules_check(rules: InputRules, typed: str, valid: bool) -> None:
    assert rules.check(typed) is valid


def test_input_rules_check_never_raises_on_junk() -> None:
    rules = InputRules()
    assert rules.check(None) is False  # type: ignore[arg-type]
    assert rules.check("\x00") is False


@pytest.mark.parametrize(("low", "high"), [(0, 4), (5, 4), (1, 65), (65, 65)])
def test_input_rules_bounds(low: int, high: int) -> None:
    with pytest.raises(ValueError, match="min_digits"):
        InputRules.from_values(low, high)


def test_is_dtmf() -> None:
    assert is_dtmf(DTMF_KEYS)
    assert is_dtmf("")
    assert not is_dtmf("a")
    assert not is_dtmf("1 2")


def test_analysis_reads_ignore_case_and_classes() -> None:
    # (?i) makes 'a' match the keypad key A, so this becomes ambiguous over "AAAA…".
    with pytest.raises(InputRegexError):
        compile_input_regex(r"(?i:a|AA)*#")
    # Without (?i), 'a' never matches keypad input, so there is only one way to match.
    compile_input_regex(r"(?:a|AA)*#")
    # Negated classes and categories are understood: [^#] and \D overlap on '*'.
    with pytest.raises(InputRegexError):
        compile_input_regex(r"(?:[^#]|\D)*#")


# --------------------------------------------------------------------------------------
# Generative: every pattern the analysis accepts runs in bounded time in a backtracking
# engine (issue 13)
# --------------------------------------------------------------------------------------

#: Bound on one accepted pattern: Python's ``re`` must fully match it against all of the
#: worker's 712 worst inputs of 64 keys within this many seconds. Accepted patterns take
#: milliseconds; the families refused take 2^64 (``(\d|1)+2``) or ~64^5/120 steps per input
#: (``.*.*.*.*.*2``), i.e. far beyond it, so the bound is not a timing race.
PROBE_BOUND_SECONDS = 5.0
GENERATED_PATTERNS = 2500

_ATOMS = st.sampled_from(
    ["1", "2", "0", "9", "#", r"\*", "A", r"\d", ".", "[0-9]", "[1-3]", "[^5]", r"\D", "[*#]"]
)


def _quantified(inner: str) -> st.SearchStrategy[str]:
    return st.sampled_from(["*", "+", "?", "{0,3}", "{1,2}", "{2}", "*?", "+?", "{2,}"]).map(
        lambda q: f"(?:{inner}){q}"
    )


_PATTERNS = st.recursive(
    _ATOMS,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map("".join),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + "|".join(xs) + ")"),
        inner.flatmap(_quantified),
        inner.map(lambda x: f"(?={x})"),
        inner.map(lambda x: f"(?!{x})"),
        inner.map(lambda x: f"({x})\\1"),
    ),
    max_leaves=8,
)


class _Worker:
    def __init__(self) -> None:
        self.process = self._start()
        self.accepted = 0

    @staticmethod
    def _start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("regex_probe_worker.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def probe(self, pattern: str) -> bool:
        """True when ``re`` finished every worst input within the bound."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(pattern) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], PROBE_BOUND_SECONDS)
        if not ready:
            self.process.kill()
            self.process.wait()
            self.process = self._start()  # a fresh worker for the next pattern
            return False
        self.process.stdout.readline()
        self.accepted += 1
        return True

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def probe_worker() -> Iterator[_Worker]:
    worker = _Worker()
    yield worker
    worker.close()


@pytest.mark.parametrize(
    "pattern",
    [
        r"(\d|1)+2",
        r".*.*.*.*.*2",
        r"[0-9]+[0-9]+[0-9]+[0-9]+2",
        r"(?:1|1)*2",
        r"(?:\d|[1-3])*#",
        r"(?:(?=1)\d)+2",
        r"(?:1(?!2)|1)+2",
        r"(?:(1)\1?)+2",
        r"(1)(?:\1|1)*2",
        r"(12|1212)*3",  # 1212 as 12+12 or 1212: 0.3 s per 64-key input in Python's re
    ],
)
def test_the_families_of_issue_13_are_refused(pattern: str) -> None:
    with pytest.raises(InputRegexError, match=r"backtrack|lookaround"):
        compile_input_regex(pattern)


@pytest.mark.parametrize("pattern", [r".*.*2", r".*.*.*2", r"[0-9]+[0-9]+2", r"(12|1)*3"])
def test_quadratic_or_unambiguous_patterns_stay_accepted(pattern: str) -> None:
    assert compile_input_regex(pattern).pattern == pattern


@settings(
    max_examples=GENERATED_PATTERNS,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(_PATTERNS)
def test_every_accepted_pattern_is_fast_in_a_backtracking_engine(
    probe_worker: _Worker, pattern: str
) -> None:
    try:
        compile_input_regex(pattern)
    except InputRegexError:
        return
    assert probe_worker.probe(pattern), f"{pattern!r} accepted but ran over the bound"


# --------------------------------------------------------------------------------------
# break-13 findings
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["1\x00", "[0-9]*\x7f", "\t[0-9]{4}", "12\x85"])
def test_a_pattern_with_a_control_character_is_refused(pattern: str) -> None:
    """A raw control character was accepted and forwarded to CM (prompts refuse them)."""
    with pytest.raises(InputRegexError, match="must not contain control characters"):
        compile_input_regex(pattern)


def test_an_escaped_control_character_stays_a_valid_pattern() -> None:
    assert compile_input_regex(r"[0-9]*\n?").pattern == r"[0-9]*\n?"


@pytest.mark.parametrize(
    "pattern", [r"(1*1*1#)*", r"(?:1*1*1#)*2", r"(2*2*2*2#)*", r"(1*1*0#)*", r"(?:0?0?0A)*B"]
)
def test_ambiguity_over_runs_of_keys_is_refused(pattern: str) -> None:
    """``1*1*1#`` matches ``111#`` in 3 ways, so k segments give 3^k paths: Python's ``re``
    takes ~3 s on ``"111#" * 15 + "1113"`` (64 keys; 3^15 paths), 3x more per segment
    added. Accepted today and forwarded to CM's backtracking engine."""
    with pytest.raises(InputRegexError, match="backtrack"):
        compile_input_regex(pattern)


@pytest.mark.parametrize("pattern", [r"[0-9]*+", r"\d++", r"(?P<d>[0-9])(?P=d)"])
def test_python_only_syntax_is_refused(pattern: str) -> None:
    with pytest.raises(InputRegexError, match="CM's engine does not read"):
        compile_input_regex(pattern)


@pytest.mark.parametrize("pattern", [r"[+*]+", r"\*+", r"1+?", r"(?>1|11)*2", r"[]+]*"])
def test_quantified_pluses_that_are_not_possessive_stay_accepted(pattern: str) -> None:
    compile_input_regex(pattern)
