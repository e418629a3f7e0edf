"""`GET /v1/dtmf-calls` (round 2, #16): its query string read strictly, and its opaque,
tamper-evident `next-token`.

The token holds where the page ended (`created-at`, instruction id) and an HMAC-SHA256 over
it and the asking owner, keyed with a key derived from the stack's callback signing secret:
a client can neither forge a position nor use a token given to another owner (it fails
verification: `422`, field `next-token`). Tokens made with the previous signing key still
verify during a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from dtmf_gateway.domain.calls import InstructionStatus, Outcome, iso
from dtmf_gateway.domain.errors import FieldProblem, InvalidListQuery
from dtmf_gateway.domain.listing import DEFAULT_LIMIT, MAX_LIMIT, ListPosition, ListQuery
from dtmf_gateway.domain.request_limits import MAX_ECHOED_KEY_LENGTH
from dtmf_gateway.domain.request_schedule import RFC3339_RULE, parse_rfc3339

_PURPOSE: Final = b"dtmf-gateway list next-token v1"
#: An offset's `+` sent unencoded in a query string arrives as a space (form decoding): the
#: only place a space can stand in an RFC 3339 time, so it is read back as the `+` it was.
_UNENCODED_PLUS: Final = re.compile(r" (?=\d{2}:\d{2}$)")
_MAC_BYTES: Final = 16
_MAX_TOKEN: Final = 512


def _token_key(signing_key: bytes) -> bytes:
    return hmac.new(signing_key, _PURPOSE, hashlib.sha256).digest()


def _mac(key: bytes, owner: str, payload: bytes) -> bytes:
    message = owner.encode() + b"\n" + payload
    return hmac.new(_token_key(key), message, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_token(position: ListPosition, owner: str, key: bytes) -> str:
    """The `next-token` of a page that ended at ``position``, for ``owner`` (base64url)."""
    payload = json.dumps([position.created_at, position.instruction_id]).encode()
    raw = payload + _mac(key, owner, payload)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_token(token: str, owner: str, keys: Sequence[bytes]) -> ListPosition | None:
    """The position a token names, if one of ``keys`` made it for ``owner``; else None."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not any(hmac.compare_digest(mac, _mac(k, owner, payload)) for k in keys):
        return None
    try:
        created_at, instruction_id = json.loads(payload)
    except (ValueError, TypeError):
        return None
    if not isinstance(created_at, str) or not isinstance(instruction_id, str):
        return None
    return ListPosition(created_at, instruction_id)


_STATUSES: Final = tuple(s.value for s in InstructionStatus)
_OUTCOMES: Final = tuple(o.value for o in Outcome)
#: The parameters the list reads; any other is refused (a misspelt filter would otherwise
#: answer the whole, unfiltered list as if it had been applied).
PARAMETERS: Final = ("status", "outcome", "created-from", "created-to", "limit", "next-token")
#: At most this many unknown parameters are named (the query string is the client's).
_MAX_UNKNOWN: Final = 10


def parse_list_query(params: Mapping[str, str], owner: str, keys: Sequence[bytes]) -> ListQuery:
    """The query of `GET /v1/dtmf-calls`; InvalidListQuery naming every bad parameter
    (an unknown one too: its own name, with the known one it is closest to)."""
    problems = _unknown_parameters(params)
    status = params.get("status")
    if status is not None and status not in _STATUSES:
        problems.append(FieldProblem("status", f"must be one of {', '.join(_STATUSES)}"))
    outcome = params.get("outcome")
    if outcome is not None and outcome not in _OUTCOMES:
        problems.append(FieldProblem("outcome", f"must be one of {', '.join(_OUTCOMES)}"))
    moments = _moments(params, problems)
    limit = _limit(params.get("limit"), problems)
    after = None
    token = params.get("next-token")
    if token is not None:
        after = decode_token(token, owner, keys)
        if after is None:
            problems.append(
                FieldProblem("next-token", "is not a token this list gave you (or it is cut)")
            )
    if problems:
        raise InvalidListQuery(problems)
    return ListQuery(
        status=InstructionStatus(status) if status else None,
        outcome=Outcome(outcome) if outcome else None,
        created_from=iso(moments["created-from"]) if "created-from" in moments else None,
        created_to=iso(moments["created-to"]) if "created-to" in moments else None,
        limit=limit,
        after=after,
    )


def _unknown_parameters(params: Mapping[str, str]) -> list[FieldProblem]:
    """A problem for each parameter the list does not read (the first `_MAX_UNKNOWN` by
    name), its field the name as sent (cut at MAX_ECHOED_KEY_LENGTH characters)."""
    unknown = sorted(name for name in params if name not in PARAMETERS)[:_MAX_UNKNOWN]
    if not unknown:
        return []
    import difflib  # only on the error path

    problems = []
    for name in unknown:
        hint = difflib.get_close_matches(name.replace("_", "-").lower(), PARAMETERS, n=1)
        message = "unknown query parameter" + (f"; did you mean {hint[0]}?" if hint else "")
        if len(name) > MAX_ECHOED_KEY_LENGTH:
            name = f"{name[:MAX_ECHOED_KEY_LENGTH]}…"  # noqa: PLW2901
        problems.append(FieldProblem(name, f"{message} (known: {', '.join(PARAMETERS)})"))
    return problems


def _moments(params: Mapping[str, str], problems: list[FieldProblem]) -> dict[str, datetime]:
    moments: dict[str, datetime] = {}
    for name in ("created-from", "created-to"):
        text = params.get(name)
        if text is None:
            continue
        moment = parse_rfc3339(_UNENCODED_PLUS.sub("+", text))
        if moment is None:
            problems.append(FieldProblem(name, RFC3339_RULE))
        else:
            moments[name] = moment
    if len(moments) == len(("created-from", "created-to")) and (
        moments["created-to"] <= moments["created-from"]
    ):
        problems.append(FieldProblem("created-to", "must be after created-from"))
    return moments


def _limit(text: str | None, problems: list[FieldProblem]) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_LIMIT:
        return int(text)
    problems.append(FieldProblem("limit", f"must be a whole number from 1 to {MAX_LIMIT}"))
    return DEFAULT_LIMIT
