"""A client ``regex`` as a small tree of keypad-level nodes, bounded in size.

Parsed with the stdlib grammar (``re._parser``, the same as ``regex.VERSION0``) — but from a
private copy that keeps alternatives such as ``(\\d|1)`` apart instead of merging them into
a set, because CM's .NET engine keeps them apart too, and the analysis in
:mod:`dtmf_gateway.domain.regex_analysis` must see that ``1`` matches two ways. Only the
sixteen DTMF keys matter: every character class becomes the set of keys it matches.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from dtmf_gateway.domain.keypad import DTMF_KEY_SET, DTMF_KEYS, MAX_DIGITS_LIMIT

#: Largest repetition count (``{n}``, ``{n,m}``): no input is longer than 64 keys.
MAX_REPEAT_COUNT: Final = MAX_DIGITS_LIMIT

#: Largest size of the pattern with its repetitions expanded (``(?:\d{64}){64}`` = 4096).
MAX_EXPANDED_SIZE: Final = 4096

TOO_BIG_MESSAGE: Final = (
    "is too large once its repetitions are expanded (nested repetition counts multiply to "
    "more than {limit}); simplify it"
)


def error_text(error: Exception) -> str:
    message = str(getattr(error, "msg", "") or error)
    pos = getattr(error, "pos", None)
    return f"{message} at position {pos}" if isinstance(pos, int) else message


_sre_parser: Any = importlib.import_module("re._parser")

_sre: Any = importlib.import_module("re._constants")

#: The stdlib parser turns ``(\d|1)`` into the set ``[\d1]`` - right for Python's engine,
#: wrong for the analysis: .NET (CM) keeps the alternation, whose two ways to match ``1``
#: make ``(\d|1)+2`` exponential. This line is what the private copy below leaves out.
_SET_MERGE: Final = "        if len(item) != 1:\n            break\n        op, av = item[0]"
_SET_KEPT: Final = "        break\n        op, av = item[0]"


@lru_cache(maxsize=1)
def _ambiguity_keeping_parser() -> Any:
    r"""A private copy of ``re._parser`` that never merges alternatives into a set (built on
    first use, to keep it off the cold start). Only ``_parse_sub``, the function holding the
    merge, is compiled again (one line removed); the module's other functions are the
    stdlib's own code objects bound to the copy's namespace, so that ``parse`` and ``_parse``
    call the copy's ``_parse_sub`` (compiling the whole module cost ~9 ms of CPU on the first
    request with a regex). Falls back to the stdlib parser if the source is not the one
    expected; the generative test in tests/unit/test_digits.py would then fail for
    ``(\d|1)+2``-like patterns."""
    import inspect
    import types

    try:
        source = inspect.getsource(_sre_parser)
    except (OSError, TypeError):  # pragma: no cover - no source shipped
        return _sre_parser
    start = source.find("\ndef _parse_sub(")
    end = source.find("\ndef ", start + 1)
    function = source[start:end]
    if start < 0 or end < 0 or function.count(_SET_MERGE) != 1:  # pragma: no cover
        return _sre_parser  # another Python version
    module = types.ModuleType("dtmf_gateway_re_parser")
    namespace = module.__dict__
    namespace.update(vars(_sre_parser))
    namespace["__name__"] = module.__name__
    for name, value in list(namespace.items()):
        if isinstance(value, types.FunctionType) and value.__globals__ is vars(_sre_parser):
            copy = types.FunctionType(
                value.__code__, namespace, value.__name__, value.__defaults__, value.__closure__
            )
            copy.__kwdefaults__ = value.__kwdefaults__
            namespace[name] = copy
    # line numbers kept, so a traceback points at the stdlib file's own lines
    code = compile(
        "\n" * source.count("\n", 0, start) + function.replace(_SET_MERGE, _SET_KEPT),
        _sre_parser.__file__,
        "exec",
    )
    exec(code, namespace)  # noqa: S102 - the stdlib's own function, one line removed
    return module


_IGNORECASE: Final = 2  # re.IGNORECASE


class Node:
    """A node of a regex's tree. Every node class has a docstring: without one, `dataclass`
    builds one from the class's signature at import (~0.1 ms of CPU each)."""

    __slots__ = ()


@dataclass(eq=False, slots=True)
class Char(Node):
    """One key out of ``keys``."""

    keys: frozenset[str]


@dataclass(eq=False, slots=True)
class Empty(Node):
    """Matches without typing a key."""


@dataclass(eq=False, slots=True)
class Seq(Node):
    """``items`` one after another."""

    items: tuple[Node, ...]


@dataclass(eq=False, slots=True)
class Alt(Node):
    """Any one of ``options`` (kept apart: each is its own way to match)."""

    options: tuple[Node, ...]


@dataclass(eq=False, slots=True)
class Repeat(Node):
    """``body`` repeated ``low`` to ``high`` times."""

    body: Node
    low: int
    high: int | None  # None = unbounded


@dataclass(eq=False, slots=True)
class Atomic(Node):
    """An atomic group or possessive repeat of ``body``."""

    body: Node


@dataclass(eq=False, slots=True)
class Look(Node):
    """A lookaround on ``body``: consumes no key."""

    body: Node


@dataclass(eq=False, slots=True)
class BackRef(Node):
    """A back-reference or a conditional on a group: counted as matching empty."""


class _Unsupported(Exception):
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
    return DTMF_KEY_SET - keys if negate else keys


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
    return DTMF_KEY_SET - keys if negate else frozenset(keys)


def _build(items: Iterable[tuple[Any, Any]], flags: int) -> Node:
    nodes = [_build_one(op, av, flags) for op, av in items]
    return nodes[0] if len(nodes) == 1 else Seq(tuple(nodes))


def _build_one(op: Any, av: Any, flags: int) -> Node:  # noqa: PLR0911 - a dispatch table
    ignore_case = bool(flags & _IGNORECASE)
    if op is _sre.LITERAL:
        return Char(frozenset(k for k in DTMF_KEYS if _code_matches(k, av, ignore_case)))
    if op is _sre.NOT_LITERAL:
        return Char(frozenset(k for k in DTMF_KEYS if not _code_matches(k, av, ignore_case)))
    if op is _sre.ANY:
        return Char(DTMF_KEY_SET)
    if op is _sre.IN:
        return Char(_set_keys(av, ignore_case))
    if op is _sre.SUBPATTERN:
        _group, add_flags, del_flags, body = av
        return _build(body, (flags | add_flags) & ~del_flags)
    if op is _sre.BRANCH:
        return Alt(tuple(_build(option, flags) for option in av[1]))
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
        low, high, body = av
        node: Node = Repeat(
            _build(body, flags), int(low), None if high is _sre.MAXREPEAT else int(high)
        )
        return Atomic(node) if op is _sre.POSSESSIVE_REPEAT else node
    if op is _sre.ATOMIC_GROUP:
        return Atomic(_build(av, flags))
    if op in (_sre.ASSERT, _sre.ASSERT_NOT):
        return Look(_build(av[1], flags))
    if op is _sre.GROUPREF_EXISTS:
        _group, yes, no = av
        return Seq(
            (
                BackRef(),
                Alt((_build(yes, flags), _build(no, flags) if no is not None else Empty())),
            )
        )
    if op is _sre.GROUPREF:
        return BackRef()
    if op is _sre.AT:
        return Empty()  # anchors are zero-width
    raise _Unsupported(str(op))


def leaves(node: Node) -> Iterator[Char]:
    if isinstance(node, Char):
        yield node
    elif isinstance(node, Seq):
        for item in node.items:
            yield from leaves(item)
    elif isinstance(node, Alt):
        for option in node.options:
            yield from leaves(option)
    elif isinstance(node, (Repeat, Atomic, Look)):
        yield from leaves(node.body)


def parse(pattern: str, *, keep_ambiguity: bool = True) -> Node | str:
    """The pattern as a tree, or why it is refused. Standard syntax only (what the stdlib
    ``re`` parser accepts), so that every engine, CM's included, reads it the same way."""
    try:
        parsed = _sre_parser.parse(pattern, 0)  # the stdlib's verdict on the syntax
        if keep_ambiguity:  # only the analysis needs it (vetted patterns skip the cost)
            parsed = _ambiguity_keeping_parser().parse(pattern, 0)
    except Exception as error:  # noqa: BLE001 - the stdlib parser raises several error types
        return (
            f"is not a valid regular expression (standard syntax, as Python's re module "
            f"reads it): {error_text(error)}"
        )
    python_only = _python_only_syntax(pattern)
    if python_only:
        return python_only
    try:
        return _build(list(parsed), int(parsed.state.flags))
    except (_Unsupported, RecursionError):
        return "uses a regular-expression construct this service cannot check; simplify it"


def _python_only_syntax(pattern: str) -> str | None:
    """Why ``pattern`` uses syntax only Python reads — ``(?P<name>…)``, ``(?P=name)``,
    possessive quantifiers (``*+``, ``++``, ``?+``, ``}+``) — which .NET's ``Regex`` (CM's
    engine) does not, or None. Escapes and character classes are skipped."""
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            i += 2 if pattern[i + 1 : i + 2] == "]" else 1  # `[]…]`: the `]` is a member
            continue
        elif pattern.startswith("(?P", i):
            return (
                f"uses Python-only group syntax (?P… at position {i + 1}), which CM's engine "
                "does not read; use an unnamed group (…) and \\1 instead"
            )
        elif ch in "*+?}" and pattern[i + 1 : i + 2] == "+" and not pattern.startswith("(?", i - 1):
            return (
                f"uses a possessive quantifier ({ch}+ at position {i + 1}), which CM's engine "
                "does not read; write an atomic group (?>…) instead"
            )
        i += 1
    return None


class _TooBig(Exception):
    pass


def _expanded_size(node: Node) -> int:
    if isinstance(node, (Char, Empty, BackRef)):
        return 1
    if isinstance(node, Seq):
        return sum(_expanded_size(item) for item in node.items)
    if isinstance(node, Alt):
        return sum(_expanded_size(option) for option in node.options)
    if isinstance(node, Repeat):
        if node.low > MAX_REPEAT_COUNT or (node.high or 0) > MAX_REPEAT_COUNT:
            raise _TooBig(
                f"may not repeat anything more than {MAX_REPEAT_COUNT} times (a callee can "
                f"type at most {MAX_DIGITS_LIMIT} keys)"
            )
        size = max(1, node.low if node.high is None else node.high) * _expanded_size(node.body)
        if size > MAX_EXPANDED_SIZE:
            raise _TooBig(TOO_BIG_MESSAGE.format(limit=MAX_EXPANDED_SIZE))
        return size
    if isinstance(node, (Atomic, Look)):
        return _expanded_size(node.body)
    raise _Unsupported(type(node).__name__)  # pragma: no cover - exhaustive above


def size_problem(root: Node) -> str | None:
    try:
        size = _expanded_size(root)
    except _TooBig as error:
        return str(error)
    except (_Unsupported, RecursionError):
        return "uses a regular-expression construct this service cannot check; simplify it"
    if size > MAX_EXPANDED_SIZE:
        return TOO_BIG_MESSAGE.format(limit=MAX_EXPANDED_SIZE)
    return None
