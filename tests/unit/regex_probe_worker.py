"""Worker for the generative regex test: reads one pattern per line (JSON string) on stdin,
fully matches it with Python's backtracking ``re`` against the worst keypad inputs of 64
keys, and answers one line per pattern. Runs in its own process so that a pattern that
backtracks catastrophically can be killed instead of hanging the test suite."""

from __future__ import annotations

import itertools
import json
import re
import sys

KEYS = "0123456789*#ABCD"
LENGTH = 64


#: Keys of the longer periodic inputs (the generated patterns' atoms distinguish these).
RUN_KEYS = "1#0"


def worst_inputs() -> list[str]:
    """Each key repeated; each key repeated then another key last (forces failure after
    the longest run); each pair of keys alternated; and runs of keys between delimiters
    (every word of 3 or 4 of RUN_KEYS repeated, then a key that fails the match), which
    ``(1*1*1#)*`` needs (``111#111#…1113``: 3 ways per segment)."""
    inputs = [key * LENGTH for key in KEYS]
    inputs += [a * (LENGTH - 1) + b for a in KEYS for b in KEYS if a != b]
    inputs += [(a + b) * (LENGTH // 2) for a in KEYS for b in KEYS if a != b]
    for period in (3, 4):
        for word in itertools.product(RUN_KEYS, repeat=period):
            body = ("".join(word) * LENGTH)[: LENGTH - 1]
            inputs += [body + tail for tail in "52"]
    return inputs


def main() -> None:
    inputs = worst_inputs()
    for line in sys.stdin:
        compiled = re.compile(json.loads(line))
        matched = sum(1 for text in inputs if compiled.fullmatch(text))
        sys.stdout.write(f"{matched}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
