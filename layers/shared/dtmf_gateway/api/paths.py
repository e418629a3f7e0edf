"""Instruction ids in URL paths: percent-decoded exactly once, then held to the id rule.

API Gateway REST APIs may hand a path parameter still percent-encoded (`order%3A7781`),
HTTP APIs and the local emulator hand it decoded (`order:7781`). An instruction id never
contains `%` (`domain.request_limits.INSTRUCTION_ID_PATTERN`), so decoding once is right for
both shapes. Anything else — invalid percent sequences, bytes that are not UTF-8, control
characters, `/`, lone surrogates, over-long ids — is no instruction id: `path_instruction_id`
returns None and the route answers as it does for an id it does not know (GET 404, the
callback route 403), never 500.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from dtmf_gateway.domain.errors import InstructionNotFound
from dtmf_gateway.domain.ids import INSTRUCTION_ID_MAX_LENGTH, INSTRUCTION_ID_PATTERN

_ID = re.compile(INSTRUCTION_ID_PATTERN)
_PERCENT_SEQUENCE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def path_instruction_id(raw: str | None) -> str | None:
    """The instruction id a path segment names (decoded once), or None if it names none."""
    if not raw or _PERCENT_SEQUENCE.search(raw):
        return None
    try:
        decoded = unquote_to_bytes(raw).decode("utf-8", errors="strict")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None
    if len(decoded) > INSTRUCTION_ID_MAX_LENGTH or not _ID.fullmatch(decoded):
        return None
    return decoded


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
