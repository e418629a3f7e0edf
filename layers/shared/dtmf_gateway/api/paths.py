"""Instruction ids in URL paths: taken as API Gateway's HTTP API hands them, then held to the
id rule.

An HTTP API hands the function the path already percent-decoded (`order%3A7781` arrives as
`order:7781`); a REST API's encoded path is decoded once when its event is read
(`api.event_shapes`). So a segment here has been decoded exactly once and is never decoded
again: a client's double-encoded `order%253A7781` arrives as `order%3A7781`, which is no id
(an id never contains `%`, `domain.request_limits.INSTRUCTION_ID_PATTERN`), not as
`order:7781`. Anything that is not an id — a `%`, control characters, `/`, `?`, lone
surrogates, over-long ids — makes `path_instruction_id` return None, and the route answers
as it does for an id it does not know (GET 404, the callback route 403), never 500.
"""

from __future__ import annotations

import re

from dtmf_gateway.domain.errors import InstructionNotFound
from dtmf_gateway.domain.ids import INSTRUCTION_ID_MAX_LENGTH, INSTRUCTION_ID_PATTERN

_ID = re.compile(INSTRUCTION_ID_PATTERN)


def path_instruction_id(segment: str | None) -> str | None:
    """The instruction id a (once-decoded) path segment names, or None if it names none."""
    if not segment or len(segment) > INSTRUCTION_ID_MAX_LENGTH or not _ID.fullmatch(segment):
        return None
    return segment


def printable(raw: str, limit: int = 80) -> str:
    """``raw`` safe to show in a problem's detail: ASCII only (escapes), at most ``limit``."""
    return raw.encode("ascii", "backslashreplace").decode("ascii")[:limit]


def named_instruction_id(raw: str) -> str:
    """The instruction id a route's path names (as `path_instruction_id`); raises
    InstructionNotFound (the routes' 404, its detail `printable(raw)`) when it names none, as
    for an id nobody owns."""
    instruction_id = path_instruction_id(raw)
    if instruction_id is None:
        raise InstructionNotFound(printable(raw))
    return instruction_id
