"""DTMF input rules: which keys exist, the ``regex`` setting, and re-checking typed digits.

Used twice: by the request model (is this ``regex`` acceptable?) and when a callback
arrives (are the digits the callee typed valid?).

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

import importlib
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import permutations
from typing import Any, Final

import regex

#: Every key of a DTMF keypad (A-D are the rarely used fourth column).
DTMF_KEYS: Final = "0123456789*#ABCD"
_DTMF_KEY_SET: Final = frozenset(DTMF_KEYS)

#: Limits of ``min-digits`` / ``max-digits`` (CM: 1-64).
MIN_DIGITS_LIMIT: Final = 1
MAX_DIGITS_LIMIT: Final = 64
DEFAULT_MIN_DIGITS: Final = 1
DEFAULT_MAX_DIGITS: Final = 64

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

#: Static analysis: input length (the most keys a callee can type: shorter probes miss
#: coarse nested repetition such as ``((\d\d\d){2,})*)*``) and the most backtracking
#: paths tolerated at that length (counted per node and end position). Exponential
#: patterns exceed it by orders of magnitude ((1+)+: 2^63, (1|11)*: fib(65), (\d|1)+:
#: 2^64); so do adjacent overlapping quantifiers beyond quadratic: ``.*.*.*.*2`` has
#: C(67,3) = 47905 paths at 64 keys, ``[0-9]+`` four times C(63,3) = 39711, while three in
#: a row (``.*.*.*2``: C(66,2) = 2145, quadratic) stay below.
ANALYSIS_LENGTH: Final = MAX_DIGITS_LIMIT
MAX_BACKTRACKING_PATHS: Final = 10_000
#: Upper bound on the work of the analysis itself (pure-Python steps).
MAX_ANALYSIS_STEPS: Final = 200_000
#: Largest repetition count (``{n}``, ``{n,m}``): no input is longer than 64 keys.
MAX_REPEAT_COUNT: Final = MAX_DIGITS_LIMIT
#: Largest size of the pattern with its repetitions expanded (``(?:\d{64}){64}`` = 4096).
MAX_EXPANDED_SIZE: Final = 4096

CATASTROPHIC_MESSAGE: Final = (
    "can backtrack catastrophically (nested or overlapping repetition such as (1+)+ or "
    "(1|11)*): rewrite it so each key can be matched in only one way"
)
_LOOK_IN_REPEAT_MESSAGE: Final = (
    "uses a lookaround or back-reference inside a repetition, which a backtracking engine "
    "cannot evaluate in bounded time; rewrite it without"
)


_TOO_SLOW_MESSAGE: Final = "is too slow to evaluate safely; simplify it"
_TOO_BIG_MESSAGE: Final = (
    "is too large once its repetitions are expanded (nested repetition counts multiply to "
    "more than {limit}); simplify it"
)


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


def compile_input_regex(pattern: str, *, probe: bool = True) -> CompiledRegex:
    """Compile a client ``regex`` setting, refusing anything that could hang evaluation.

    ``probe=False`` skips the static analysis and the timed probes (for patterns that
    were vetted when the request was accepted); every evaluation stays time-limited.
    Raises :class:`InputRegexError`.
    """
    result = _compile_cached(pattern, probe)
    if isinstance(result, str):
        raise InputRegexError(result)
    return result


@lru_cache(maxsize=256)
def _compile_cached(pattern: str, probe: bool) -> CompiledRegex | str:
    r"""The compiled pattern, or the refusal message (refusals are cached too, so a client
    cannot make us re-run the probes of a known-bad pattern).

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
    problem = (_count_paths(root) or _timed_probes(compiled)) if probe else None
    return problem or _anchor_problem(pattern) or CompiledRegex(pattern, compiled)


def anchored(pattern: str) -> str:
    """``pattern`` as sent to CM: ``^(?:pattern)$``. CM does not document whether it matches
    in full or finds anywhere; anchored, both readings agree with our own full match."""
    return f"^(?:{pattern})$"


_UNANCHORABLE_MESSAGE: Final = (
    "cannot be sent to CM anchored as ^(?:…)$ ({error}); scope inline flags to a group, "
    "e.g. (?i:…) instead of (?i)…"
)


def _parse_bounded(pattern: str, *, keep_ambiguity: bool) -> _Node | str:
    """The pattern's tree, or why its text, syntax or size is refused."""
    if not pattern:
        return f"must not be empty; leave it out (or send null) for the default {DEFAULT_REGEX}"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"must be at most {MAX_PATTERN_LENGTH} characters"
    root = _parse(pattern, keep_ambiguity=keep_ambiguity)
    if isinstance(root, str):
        return root
    return _size_problem(root) or root


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
        return f"is not a valid regular expression: {_error_text(error)}"
    except (OverflowError, RecursionError, MemoryError):
        return _TOO_BIG_MESSAGE.format(limit=MAX_EXPANDED_SIZE)


def _error_text(error: Exception) -> str:
    message = str(getattr(error, "msg", "") or error)
    pos = getattr(error, "pos", None)
    return f"{message} at position {pos}" if isinstance(pos, int) else message


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
            return _TOO_SLOW_MESSAGE
        limit = min(PROBE_TIMEOUT_SECONDS, remaining)
        try:
            compiled.fullmatch(text, timeout=limit)
        except TimeoutError:
            return CATASTROPHIC_MESSAGE if limit >= PROBE_TIMEOUT_SECONDS else _TOO_SLOW_MESSAGE
    return None


# --------------------------------------------------------------------------------------
# Static backtracking analysis
# --------------------------------------------------------------------------------------
# The pattern is parsed with the stdlib parser (``re._parser``, the same grammar as
# ``regex.VERSION0``) into a tiny tree, then evaluated over probe strings by counting, for
# each node and start position, in how many ways it can end at each position. That count
# is exactly the number of alternatives a backtracking engine tries when the rest of the
# pattern fails, so it grows exponentially for ambiguous repetition.

_sre_parser: Any = importlib.import_module("re._parser")
_sre: Any = importlib.import_module("re._constants")

#: The stdlib parser turns ``(\d|1)`` into the set ``[\d1]`` - right for Python's engine,
#: wrong for the analysis: .NET (CM) keeps the alternation, whose two ways to match ``1``
#: make ``(\d|1)+2`` exponential. This line is what the private copy below leaves out.
_SET_MERGE: Final = "        if len(item) != 1:\n            break\n        op, av = item[0]"


@lru_cache(maxsize=1)
def _ambiguity_keeping_parser() -> Any:
    r"""A private copy of ``re._parser`` that never merges alternatives into a set (built on
    first use, to keep it off the cold start). Falls back to the stdlib parser if the
    source is not the one expected; the generative test in tests/unit/test_digits.py
    would then fail for ``(\d|1)+2``-like patterns."""
    import inspect
    import types

    try:
        source = inspect.getsource(_sre_parser)
    except (OSError, TypeError):  # pragma: no cover - no source shipped
        return _sre_parser
    if source.count(_SET_MERGE) != 1:  # pragma: no cover - another Python version
        return _sre_parser
    module = types.ModuleType("dtmf_gateway_re_parser")
    module.__package__ = "re"
    code = compile(
        source.replace(_SET_MERGE, "        break\n        op, av = item[0]"),
        _sre_parser.__file__,
        "exec",
    )
    exec(code, module.__dict__)  # noqa: S102 - the stdlib's own parser, one line removed
    return module


_IGNORECASE: Final = 2  # re.IGNORECASE


class _Node:
    __slots__ = ()


@dataclass(eq=False, slots=True)
class _Char(_Node):
    keys: frozenset[str]


@dataclass(eq=False, slots=True)
class _Empty(_Node):
    pass


@dataclass(eq=False, slots=True)
class _Seq(_Node):
    items: tuple[_Node, ...]


@dataclass(eq=False, slots=True)
class _Alt(_Node):
    options: tuple[_Node, ...]


@dataclass(eq=False, slots=True)
class _Repeat(_Node):
    body: _Node
    low: int
    high: int | None  # None = unbounded


@dataclass(eq=False, slots=True)
class _Atomic(_Node):
    body: _Node


@dataclass(eq=False, slots=True)
class _Look(_Node):
    body: _Node


@dataclass(eq=False, slots=True)
class _BackRef(_Node):
    """A back-reference or a conditional on a group: counted as matching empty."""


class _Unsupported(Exception):
    pass


class _TooMany(Exception):
    pass


class _TooSlow(Exception):
    pass


def _category_keys(category: Any) -> frozenset[str]:
    name = str(category)
    negate = "NOT_" in name
    if name.endswith("DIGIT"):
        keys = frozenset(k for k in DTMF_KEYS if k.isdigit())
    elif name.endswith("WORD"):
        keys = frozenset(k for k in DTMF_KEYS if k.isalnum() or k == "_")
    else:  # SPACE, LINEBREAK: no keypad key is white space
        keys = frozenset()
    return _DTMF_KEY_SET - keys if negate else keys


def _code_matches(key: str, code: int, ignore_case: bool) -> bool:
    if ignore_case:
        return code in (ord(key.lower()), ord(key.upper()))
    return code == ord(key)


def _set_keys(items: Iterable[tuple[Any, Any]], ignore_case: bool) -> frozenset[str]:
    negate = False
    keys: set[str] = set()
    for op, av in items:
        if op is _sre.NEGATE:
            negate = True
        elif op is _sre.LITERAL:
            keys.update(k for k in DTMF_KEYS if _code_matches(k, av, ignore_case))
        elif op is _sre.RANGE:
            low, high = av
            keys.update(
                k
                for k in DTMF_KEYS
                if any(
                    low <= code <= high
                    for code in (
                        {ord(k), ord(k.lower()), ord(k.upper())} if ignore_case else {ord(k)}
                    )
                )
            )
        elif op is _sre.CATEGORY:
            keys.update(_category_keys(av))
        else:
            raise _Unsupported(str(op))
    return _DTMF_KEY_SET - keys if negate else frozenset(keys)


def _build(items: Iterable[tuple[Any, Any]], flags: int) -> _Node:
    nodes = [_build_one(op, av, flags) for op, av in items]
    return nodes[0] if len(nodes) == 1 else _Seq(tuple(nodes))


def _build_one(op: Any, av: Any, flags: int) -> _Node:  # noqa: PLR0911 - a dispatch table
    ignore_case = bool(flags & _IGNORECASE)
    if op is _sre.LITERAL:
        return _Char(frozenset(k for k in DTMF_KEYS if _code_matches(k, av, ignore_case)))
    if op is _sre.NOT_LITERAL:
        return _Char(frozenset(k for k in DTMF_KEYS if not _code_matches(k, av, ignore_case)))
    if op is _sre.ANY:
        return _Char(_DTMF_KEY_SET)
    if op is _sre.IN:
        return _Char(_set_keys(av, ignore_case))
    if op is _sre.SUBPATTERN:
        _group, add_flags, del_flags, body = av
        return _build(body, (flags | add_flags) & ~del_flags)
    if op is _sre.BRANCH:
        return _Alt(tuple(_build(option, flags) for option in av[1]))
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
        low, high, body = av
        node: _Node = _Repeat(
            _build(body, flags), int(low), None if high is _sre.MAXREPEAT else int(high)
        )
        return _Atomic(node) if op is _sre.POSSESSIVE_REPEAT else node
    if op is _sre.ATOMIC_GROUP:
        return _Atomic(_build(av, flags))
    if op in (_sre.ASSERT, _sre.ASSERT_NOT):
        return _Look(_build(av[1], flags))
    if op is _sre.GROUPREF_EXISTS:
        _group, yes, no = av
        return _Seq(
            (
                _BackRef(),
                _Alt((_build(yes, flags), _build(no, flags) if no is not None else _Empty())),
            )
        )
    if op is _sre.GROUPREF:
        return _BackRef()
    if op is _sre.AT:
        return _Empty()  # anchors are zero-width
    raise _Unsupported(str(op))


def _leaves(node: _Node) -> Iterator[_Char]:
    if isinstance(node, _Char):
        yield node
    elif isinstance(node, _Seq):
        for item in node.items:
            yield from _leaves(item)
    elif isinstance(node, _Alt):
        for option in node.options:
            yield from _leaves(option)
    elif isinstance(node, (_Repeat, _Atomic, _Look)):
        yield from _leaves(node.body)


class _Counter:
    """Counts, for one probe string, the backtracking paths of every node."""

    def __init__(self, text: str, budget: list[int]) -> None:
        self.text = text
        self.size = len(text)
        self.memo: dict[tuple[int, int], dict[int, int]] = {}
        self.budget = budget  # shared across probes: [steps left]

    def _tick(self, steps: int = 1) -> None:
        self.budget[0] -= steps
        if self.budget[0] < 0:
            raise _TooSlow

    @staticmethod
    def _add(out: dict[int, int], end: int, ways: int) -> None:
        total = out.get(end, 0) + ways
        if total > MAX_BACKTRACKING_PATHS:
            raise _TooMany
        out[end] = total

    def ends(self, node: _Node, start: int) -> dict[int, int]:
        key = (id(node), start)
        found = self.memo.get(key)
        if found is None:
            found = self._ends(node, start)
            self.memo[key] = found
        return found

    def spread(self, node: _Node, starts: dict[int, int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for start, ways in starts.items():
            reached = self.ends(node, start)
            self._tick(len(reached) + 1)
            for end, more in reached.items():
                self._add(out, end, ways * more)
        return out

    def _ends(self, node: _Node, start: int) -> dict[int, int]:  # noqa: PLR0911
        self._tick()
        if isinstance(node, _Char):
            if start < self.size and self.text[start] in node.keys:
                return {start + 1: 1}
            return {}
        if isinstance(node, (_Empty, _BackRef)):
            return {start: 1}
        if isinstance(node, _Seq):
            current = {start: 1}
            for item in node.items:
                current = self.spread(item, current)
                if not current:
                    break
            return current
        if isinstance(node, _Alt):
            out: dict[int, int] = {}
            for option in node.options:
                for end, ways in self.ends(option, start).items():
                    self._add(out, end, ways)
            return out
        if isinstance(node, _Atomic):
            inner = self.ends(node.body, start)
            return {max(inner): 1} if inner else {}
        if isinstance(node, _Look):
            self.ends(node.body, start)  # its own cost counts; it consumes nothing
            return {start: 1}
        if isinstance(node, _Repeat):
            return self._repeat(node, start)
        raise _Unsupported(type(node).__name__)  # pragma: no cover - exhaustive above

    def _repeat(self, node: _Repeat, start: int) -> dict[int, int]:
        """Paths through ``body{low,high}``; an iteration that matches empty is only used
        to reach ``low`` (engines stop looping on an empty match).

        ``low`` is capped just above the input length: more iterations than characters
        can only come from empty ones, and the cap keeps the work bounded while the count
        of paths stays (conservatively) large for such patterns."""
        low = min(node.low, self.size + 1)
        bounded = node.high is not None and node.high <= self.size - start
        high = node.high if bounded else None
        # Per position: iteration count (capped at ``low`` when unbounded) -> paths.
        layers: list[dict[int, int]] = [{} for _ in range(self.size + 1)]
        layers[start][0] = 1
        out: dict[int, int] = {}
        for position in range(start, self.size + 1):
            layer = layers[position]
            if not layer:
                continue
            reached = self.ends(node.body, position)
            count = -1
            while True:
                # Ascending iteration counts; an empty iteration adds count + 1 at this
                # same position, which the next round picks up.
                self._tick(len(layer))
                count = min((c for c in layer if c > count), default=-1)
                if count < 0:
                    break
                ways = layer[count]
                if count >= low and (high is None or count <= high):
                    self._add(out, position, ways)
                self._tick(len(reached) + 1)
                for end, more in reached.items():
                    if end == position:
                        if count < low:
                            self._add(layer, count + 1, ways * more)
                        continue
                    following = count + 1
                    if high is not None and following > high:
                        continue
                    if high is None:
                        following = min(following, low)
                    self._add(layers[end], following, ways * more)
        return out


def _probe_strings(root: _Node) -> list[str]:
    """One representative per class of keys the pattern cannot tell apart: each repeated,
    and each ordered pair alternated."""
    leaves = list(_leaves(root))
    classes: dict[tuple[bool, ...], str] = {}
    for key in DTMF_KEYS:
        classes.setdefault(tuple(key in leaf.keys for leaf in leaves), key)
    reps = list(classes.values())
    probes = [rep * ANALYSIS_LENGTH for rep in reps]
    probes += [(a + b) * (ANALYSIS_LENGTH // 2) for a, b in permutations(reps, 2)]
    return probes


def _parse(pattern: str, *, keep_ambiguity: bool = True) -> _Node | str:
    """The pattern as a tree, or why it is refused. Standard syntax only (what the stdlib
    ``re`` parser accepts), so that every engine, CM's included, reads it the same way."""
    try:
        parsed = _sre_parser.parse(pattern, 0)  # the stdlib's verdict on the syntax
        if keep_ambiguity:  # only the analysis needs it (vetted patterns skip the cost)
            parsed = _ambiguity_keeping_parser().parse(pattern, 0)
    except Exception as error:  # noqa: BLE001 - the stdlib parser raises several error types
        return (
            f"is not a valid regular expression (standard syntax, as Python's re module "
            f"reads it): {_error_text(error)}"
        )
    try:
        return _build(list(parsed), int(parsed.state.flags))
    except (_Unsupported, RecursionError):
        return "uses a regular-expression construct this service cannot check; simplify it"


class _TooBig(Exception):
    pass


def _expanded_size(node: _Node) -> int:
    if isinstance(node, (_Char, _Empty, _BackRef)):
        return 1
    if isinstance(node, _Seq):
        return sum(_expanded_size(item) for item in node.items)
    if isinstance(node, _Alt):
        return sum(_expanded_size(option) for option in node.options)
    if isinstance(node, _Repeat):
        if node.low > MAX_REPEAT_COUNT or (node.high or 0) > MAX_REPEAT_COUNT:
            raise _TooBig(
                f"may not repeat anything more than {MAX_REPEAT_COUNT} times (a callee can "
                f"type at most {MAX_DIGITS_LIMIT} keys)"
            )
        size = max(1, node.low if node.high is None else node.high) * _expanded_size(node.body)
        if size > MAX_EXPANDED_SIZE:
            raise _TooBig(_TOO_BIG_MESSAGE.format(limit=MAX_EXPANDED_SIZE))
        return size
    if isinstance(node, (_Atomic, _Look)):
        return _expanded_size(node.body)
    raise _Unsupported(type(node).__name__)  # pragma: no cover - exhaustive above


def _size_problem(root: _Node) -> str | None:
    try:
        size = _expanded_size(root)
    except _TooBig as error:
        return str(error)
    except (_Unsupported, RecursionError):
        return "uses a regular-expression construct this service cannot check; simplify it"
    if size > MAX_EXPANDED_SIZE:
        return _TOO_BIG_MESSAGE.format(limit=MAX_EXPANDED_SIZE)
    return None


def _looks_in_repeat(node: _Node, repeated: bool = False) -> bool:
    """True when a lookaround or back-reference sits inside a repetition of more than once."""
    if isinstance(node, (_Look, _BackRef)) and repeated:
        return True
    if isinstance(node, _Repeat):
        repeated = repeated or node.high is None or node.high > 1
    if isinstance(node, _Seq):
        return any(_looks_in_repeat(item, repeated) for item in node.items)
    if isinstance(node, _Alt):
        return any(_looks_in_repeat(option, repeated) for option in node.options)
    if isinstance(node, (_Repeat, _Atomic, _Look)):
        return _looks_in_repeat(node.body, repeated)
    return False


def _count_paths(root: _Node) -> str | None:
    """Refusal message when a backtracking engine could take more than quadratic time
    (lookarounds or back-references inside a repetition, or too many paths), else None."""
    try:
        if _looks_in_repeat(root):
            return _LOOK_IN_REPEAT_MESSAGE
        budget = [MAX_ANALYSIS_STEPS]
        for text in _probe_strings(root):
            _Counter(text, budget).ends(root, 0)
    except _TooMany:
        return CATASTROPHIC_MESSAGE
    except _TooSlow:
        return _TOO_SLOW_MESSAGE
    except RecursionError:
        return "uses a regular-expression construct this service cannot check; simplify it"
    return None


# --------------------------------------------------------------------------------------
# Input rules
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _default_regex() -> CompiledRegex:
    return compile_input_regex(DEFAULT_REGEX, probe=False)


def is_dtmf(text: str) -> bool:
    """True when every character of ``text`` is a DTMF key (``0-9 * # A-D``)."""
    return all(ch in _DTMF_KEY_SET for ch in text)


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
