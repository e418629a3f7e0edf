"""Static backtracking analysis of a client ``regex``: would a backtracking engine hang on it?

The tree (:mod:`dtmf_gateway.domain.regex_tree`) is evaluated over adversarial keypad
inputs of up to 64 keys by counting, for each node and start position, in how many ways it
can end at each position: exactly the alternatives a backtracking engine (the stdlib
``re``; .NET's ``Regex`` on CM's side) tries when the rest of the pattern fails. Nested or
overlapping repetition (``(1+)+``, ``(1|11)*2``, ``(\\d|1)+2``), more than three adjacent
overlapping quantifiers (``.*.*.*.*2``) and lookarounds or back-references inside a
repetition are refused. Deterministic: no clocks.
"""

from __future__ import annotations

from itertools import product
from typing import Final

from dtmf_gateway.domain.keypad import DTMF_KEYS, MAX_DIGITS_LIMIT
from dtmf_gateway.domain.regex_tree import (
    Alt,
    Atomic,
    BackRef,
    Char,
    Empty,
    Look,
    Node,
    Repeat,
    Seq,
    leaves,
)

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
MAX_ANALYSIS_STEPS: Final = 1_500_000
#: Probe words: periods of up to this many keys, at most this many probes per pattern.
MAX_PROBE_PERIOD: Final = 4
MAX_PROBES: Final = 400

CATASTROPHIC_MESSAGE: Final = (
    "can backtrack catastrophically (nested or overlapping repetition such as (1+)+ or "
    "(1|11)*): rewrite it so each key can be matched in only one way"
)

_LOOK_IN_REPEAT_MESSAGE: Final = (
    "uses a lookaround or back-reference inside a repetition, which a backtracking engine "
    "cannot evaluate in bounded time; rewrite it without"
)

TOO_SLOW_MESSAGE: Final = "is too slow to evaluate safely; simplify it"


class _TooMany(Exception):
    pass


class _TooSlow(Exception):
    pass


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

    def ends(self, node: Node, start: int) -> dict[int, int]:
        key = (id(node), start)
        found = self.memo.get(key)
        if found is None:
            found = self._ends(node, start)
            self.memo[key] = found
        return found

    def spread(self, node: Node, starts: dict[int, int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for start, ways in starts.items():
            reached = self.ends(node, start)
            self._tick(len(reached) + 1)
            for end, more in reached.items():
                self._add(out, end, ways * more)
        return out

    def _ends(self, node: Node, start: int) -> dict[int, int]:  # noqa: PLR0911
        self._tick()
        if isinstance(node, Char):
            if start < self.size and self.text[start] in node.keys:
                return {start + 1: 1}
            return {}
        if isinstance(node, (Empty, BackRef)):
            return {start: 1}
        if isinstance(node, Seq):
            current = {start: 1}
            for item in node.items:
                current = self.spread(item, current)
                if not current:
                    break
            return current
        if isinstance(node, Alt):
            out: dict[int, int] = {}
            for option in node.options:
                for end, ways in self.ends(option, start).items():
                    self._add(out, end, ways)
            return out
        if isinstance(node, Atomic):
            inner = self.ends(node.body, start)
            return {max(inner): 1} if inner else {}
        if isinstance(node, Look):
            self.ends(node.body, start)  # its own cost counts; it consumes nothing
            return {start: 1}
        if isinstance(node, Repeat):
            return self._repeat(node, start)
        raise TypeError(type(node).__name__)  # pragma: no cover - exhaustive above

    def _repeat(self, node: Repeat, start: int) -> dict[int, int]:
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


def _probe_strings(root: Node) -> list[str]:
    """One representative per class of keys the pattern cannot tell apart, then every word
    of up to :data:`MAX_PROBE_PERIOD` representatives repeated to the analysis length (shortest
    periods first, at most :data:`MAX_PROBES` probes). Period 1 and 2 are each key repeated
    and each pair alternated; longer periods find ambiguity that needs a run of keys between
    delimiters, such as ``(1*1*1#)*`` on ``111#111#…`` (3 ways per segment, found by the
    hostile review of issue 13)."""
    chars = list(leaves(root))
    classes: dict[tuple[bool, ...], str] = {}
    for key in DTMF_KEYS:
        classes.setdefault(tuple(key in leaf.keys for leaf in chars), key)
    reps = list(classes.values())
    probes: list[str] = []
    for period in range(1, MAX_PROBE_PERIOD + 1):
        for word in product(reps, repeat=period):
            if period > 1 and len(set(word)) == 1:
                continue  # a single key repeated: period 1 has it
            text = "".join(word) * (ANALYSIS_LENGTH // period + 1)
            probes.append(text[:ANALYSIS_LENGTH])
            if len(probes) >= MAX_PROBES:
                return probes
    return probes


def _looks_in_repeat(node: Node, repeated: bool = False) -> bool:
    """True when a lookaround or back-reference sits inside a repetition of more than once."""
    if isinstance(node, (Look, BackRef)) and repeated:
        return True
    if isinstance(node, Repeat):
        repeated = repeated or node.high is None or node.high > 1
    if isinstance(node, Seq):
        return any(_looks_in_repeat(item, repeated) for item in node.items)
    if isinstance(node, Alt):
        return any(_looks_in_repeat(option, repeated) for option in node.options)
    if isinstance(node, (Repeat, Atomic, Look)):
        return _looks_in_repeat(node.body, repeated)
    return False


def count_paths(root: Node) -> str | None:
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
        return TOO_SLOW_MESSAGE
    except RecursionError:
        return "uses a regular-expression construct this service cannot check; simplify it"
    return None
