"""The `DTMF Result` event: one per call that ends (finished or expired), versioned.

The pydantic model is the source of truth; `schemas/dtmf-result.v1.json` is generated from it
(`make schema`) and a contract test keeps the two identical.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dtmf_gateway.domain.calls import Correction, Outcome
from dtmf_gateway.domain.digits_protection import DigitsMode, protects
from dtmf_gateway.domain.stored import CmResult

if TYPE_CHECKING:
    from dtmf_gateway.domain.stored import StoredCall

EVENT_SOURCE = "dtmf-gateway"
DETAIL_TYPE = "DTMF Result"

_E164 = r"^\+[1-9][0-9]{6,14}$"
_NUMBERS = ("caller", "callee")
_ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"


class DtmfResultDetail(BaseModel):
    """`detail` of a `DTMF Result` event (source `dtmf-gateway`)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        title="DtmfResult",
    )

    schema_version: Literal["1"] = Field(default="1", alias="schema-version")
    instruction_id: str = Field(alias="instruction-id", min_length=1, max_length=64)
    call_id: str = Field(alias="call-id", min_length=1, max_length=64)
    # null only once the instruction's personal data was erased (`erased-at` set, issue 19):
    # a result that arrives after the erasure is published without the numbers
    caller: str | None = Field(pattern=_E164, description="E.164; null only with `erased-at`")
    callee: str | None = Field(pattern=_E164, description="E.164; null only with `erased-at`")
    outcome: Outcome
    digits: str | None = Field(
        description="what the callee typed on the last attempt; null when nothing", max_length=256
    )
    result: CmResult | None = Field(description="CM's result object; null when expired")
    metadata: dict[str, str] = Field(description="as given when the call was placed")
    queued_at: str = Field(alias="queued-at", pattern=_ISO_UTC)
    finished_at: str = Field(alias="finished-at", pattern=_ISO_UTC)
    revision: int = Field(
        default=0,
        ge=0,
        description="0 for a call's first result; each correction of it adds one (the latest "
        "revision is the call's result)",
    )
    corrects: Correction | None = Field(
        default=None,
        description="set on a correction: `expired` (a real callback arrived after the call "
        "was published as expired), `rederived` (the outcome was re-derived from CM's stored "
        "callback body)",
    )
    # issue 19: verify mode's comparison (absent in plain and omit mode)
    verified: bool | None = Field(
        default=None,
        description="present only for `digits-mode` verify: true when the callee typed valid "
        "digits equal to `expected-digits`, else false (`digits` is then always null)",
    )
    erased_at: str | None = Field(
        default=None,
        alias="erased-at",
        pattern=_ISO_UTC,
        description="present only when the instruction's personal data was erased before this "
        "result was published: `caller`, `callee`, `digits` are then null, `metadata` empty",
    )
    attempts: int | None = Field(
        default=None,
        ge=1,
        description="round 2: the number of CM calls made for this callee (redials included); "
        "absent for an instruction placed at once",
    )
    campaign_id: str | None = Field(
        default=None,
        alias="campaign-id",
        description="present only for a campaign's row: the campaign's id",
    )
    truncated: list[str] | None = Field(
        default=None,
        min_length=1,
        description=(
            "present only when the event had to be shortened to fit EventBridge's 256 KB entry "
            "limit: the JSON pointers (RFC 6901) of the values in `result` that were cut (a "
            "string keeps its beginning) or replaced by null. GET "
            "/v1/dtmf-calls/{instruction-id} returns the stored result"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _numbers_unless_erased(cls, data: Any) -> Any:
        """Issue 19: the numbers may be null only once erased; otherwise a null number is a
        missing one (the stored call is malformed: set aside, never published half-empty)."""
        if not isinstance(data, dict) or data.get("erased-at") or data.get("erased_at"):
            return data
        return {k: v for k, v in data.items() if not (k in _NUMBERS and v is None)}

    def to_json(self) -> str:
        """The event's `detail` as compact JSON (UTF-8 text; `truncated` only when set)."""
        optional = ("truncated", "verified", "erased_at", "attempts", "campaign_id")
        absent = {k for k in optional if getattr(self, k) is None}
        return self.model_dump_json(by_alias=True, exclude=absent or None)


def detail_from_call(call: StoredCall) -> DtmfResultDetail:
    """The event of an ended call; pydantic's ValidationError when the record lacks what the
    event needs (then the record is malformed: retried, never published half-empty)."""
    protected = protects(call.digits_mode)  # issue 19: never publish protected digits
    verified = call.verified
    if verified is None and call.digits_mode == DigitsMode.VERIFY:
        verified = False  # ended without a comparison (expired, unanswered)
    return DtmfResultDetail.model_validate(
        {
            "instruction-id": call.instruction_id,
            "call-id": call.call_id,
            "caller": call.caller,
            "callee": call.callee,
            "outcome": call.outcome,
            "digits": None if protected else (call.digits or None),
            "verified": verified,
            "erased-at": call.erased_at,
            "result": call.result,
            "metadata": call.metadata,
            "queued-at": call.queued_at,
            "finished-at": call.finished_at,
            "revision": call.revision,
            "corrects": call.corrects,
            "attempts": call.attempt,
            "campaign-id": call.campaign_id,
        }
    )


def _size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON (as in the event's detail)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _pointer_token(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")  # RFC 6901


def _shrink_largest(node: Any, pointer: str, excess: int, *, top: bool) -> str | None:
    """Shorten the largest value under `node` (a dict or list, changed in place) by about
    `excess` bytes; its JSON pointer, or None when nothing under `node` can shrink."""
    members: list[tuple[Any, Any]] = list(
        node.items() if isinstance(node, dict) else enumerate(node)
    )
    if top:
        members = [(k, v) for k, v in members if k != "code"]  # the one key consumers need
    members = [(k, v) for k, v in members if v not in (None, "")]
    if not members:
        return None
    key, child = max(members, key=lambda kv: _size(kv[1]))
    at = f"{pointer}/{_pointer_token(key)}"
    if isinstance(child, str):
        node[key] = child[: max(0, len(child) - excess)]  # each character is >= 1 byte
        return at
    if isinstance(child, (dict, list)) and child:
        values = child.values() if isinstance(child, dict) else child
        if max(_size(v) for v in values) >= excess:
            return _shrink_largest(child, at, excess, top=False)
    node[key] = None
    return at


def fitted(detail: DtmfResultDetail, max_bytes: int) -> DtmfResultDetail:
    """`detail` itself when its JSON takes at most `max_bytes` (UTF-8); else a copy whose
    pass-through values in `result` (everything but `code`) are shortened, largest first,
    until it fits, each listed in `truncated`. A string keeps its beginning; a number, or an
    object or array with no member big enough to make up the difference, becomes null.
    Returns the smallest it can make when even that does not fit (then the bus refuses it)."""
    size = len(detail.to_json().encode())
    if size <= max_bytes or detail.result is None:
        return detail
    data = detail.model_dump(by_alias=True, mode="json")
    cut: list[str] = list(detail.truncated or [])
    while size > max_bytes:
        pointer = _shrink_largest(data["result"], "/result", size - max_bytes, top=True)
        if pointer is None:
            break
        if pointer not in cut:
            cut.append(pointer)
        data["truncated"] = cut
        shortened = DtmfResultDetail.model_validate(data)
        size = len(shortened.to_json().encode())
        detail = shortened
    return detail
