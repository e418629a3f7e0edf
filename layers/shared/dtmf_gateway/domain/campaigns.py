"""Campaigns: one DTMF instruction template, many callees, each row its own instruction.

The ``POST /v1/dtmf-campaigns`` body (:func:`parse_campaign_request`), the rows of a callee
list (CSV or JSON Lines, :func:`rows_of_jsonl`, :func:`rows_of_csv`), and the one rule that
turns a row into an instruction (:func:`row_request`): the template with its ``{{name}}``
placeholders filled from the row's ``variables``, the row's ``callee`` and ``metadata``, and
the instruction id ``{campaign-id}.{row-number}`` — validated by the very model and dialling
policy of ``POST /v1/dtmf-calls`` (:func:`~dtmf_gateway.domain.request.parse_dtmf_call_request`),
so any key the request model accepts is accepted in a campaign's ``instruction`` too.

Knows nothing of S3, SQS, DynamoDB or HTTP (see ``campaign_use_cases`` for the use cases).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from dtmf_gateway.domain.errors import FieldProblem, InvalidRequest, PolicyRefused
from dtmf_gateway.domain.ids import DERIVED_ID_PREFIX, INSTRUCTION_ID_PATTERN
from dtmf_gateway.domain.request_limits import PromptType, parse_prompt_type

if TYPE_CHECKING:
    from dtmf_gateway.domain.policy import DialPolicy
    from dtmf_gateway.domain.request import DtmfCallRequest

#: ``campaign-id``: at most 40 characters of the instruction-id alphabet (so that
#: ``{campaign-id}.{row-number}`` stays within the instruction id's 64).
CAMPAIGN_ID_MAX_LENGTH: Final = 40
CAMPAIGN_ID = re.compile(INSTRUCTION_ID_PATTERN)
MAX_INLINE_ROWS: Final = 10_000
MAX_FILE_ROWS: Final = 1_000_000
MIN_CALLS_PER_SECOND: Final = 0.1
MAX_CONCURRENT_CALLS: Final = 1_000
DEFAULT_MAX_CONCURRENT_CALLS: Final = 50
#: Keys a campaign's ``instruction`` may not hold: each row supplies them.
ROW_KEYS: Final = ("callee", "callees", "instruction-id")
#: The campaign's own keys; any other top-level key is an instruction key (the round-2 keys
#: such as ``not-after`` may be given beside ``instruction`` and apply to every row).
CAMPAIGN_KEYS: Final = (
    "campaign-id",
    "instruction",
    "callees",
    "callees-s3-uri",
    "calls-per-second",
    "max-concurrent-calls",
    "skip-invalid-rows",
)
#: The template keys whose text may hold ``{{name}}`` placeholders.
PROMPT_KEYS: Final = ("prompt", "valid-prompt", "invalid-prompt")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.{1,1024})$")
#: CSV columns named ``metadata.<key>`` are the row's metadata; others (but ``callee``) are
#: its variables.
CSV_METADATA_PREFIX: Final = "metadata."


class CampaignStatus(StrEnum):
    VALIDATING = "validating"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


TERMINAL_STATUSES: Final = frozenset(
    {CampaignStatus.FINISHED, CampaignStatus.CANCELLED, CampaignStatus.FAILED}
)


class RowEnd(StrEnum):
    """How a row ended without a `DTMF Result` (beside the call outcomes)."""

    NOT_PLACED = "not-placed"  # no CM call was made (reason: schedules.NotPlacedReason)
    UNKNOWN = "unknown"  # CM may or may not have placed the call (no result will come)


@dataclass(frozen=True, slots=True)
class CampaignRequest:
    """A validated ``POST /v1/dtmf-campaigns`` body.

    ``instruction``: the template (JSON form, round-2 keys given beside it merged in);
    ``callees``: the inline rows (raw JSON objects) or None with ``callees_s3_uri``;
    ``calls_per_second``: calls placed per second at most (0.1 up to the stack's limit);
    ``max_concurrent_calls``: calls of this campaign in progress at once at most.
    """

    campaign_id: str | None
    instruction: dict[str, Any]
    callees: list[Any] | None
    callees_s3_uri: str | None
    calls_per_second: float
    max_concurrent_calls: int
    skip_invalid_rows: bool


def parse_campaign_request(
    raw: object, *, max_calls_per_second: float, default_calls_per_second: float
) -> CampaignRequest:
    """Validate a decoded body's shape; raise :class:`InvalidRequest` listing every problem
    (``field`` the JSON path, e.g. ``instruction.callee``, ``calls-per-second``).

    Rows are not validated here (see :func:`validate_row`); the template is checked as far
    as a row cannot change it (:func:`template_problems`).
    """
    if not isinstance(raw, dict):
        raise InvalidRequest([FieldProblem("(body)", "must be a JSON object (the campaign)")])
    problems: list[FieldProblem] = []
    instruction = raw.get("instruction")
    if not isinstance(instruction, dict):
        problems.append(FieldProblem("instruction", "is required: a DTMF instruction object"))
        instruction = {}
    instruction = dict(instruction)
    for key in ROW_KEYS:
        if key in instruction:
            problems.append(
                FieldProblem(f"instruction.{key}", "is not allowed: each row supplies it")
            )
    extra = {k: v for k, v in raw.items() if k not in CAMPAIGN_KEYS}
    for key in ROW_KEYS:
        if key in extra:
            problems.append(FieldProblem(key, "is not allowed in a campaign"))
            extra.pop(key)
    for key, problem in _unknown_beside(extra).items():
        problems.append(problem)
        extra.pop(key)
    for key, value in extra.items():  # instruction keys given beside the template
        if key in instruction:
            problems.append(FieldProblem(key, "is given twice: here and in instruction"))
        instruction[key] = value
    problems += _campaign_id_problems(raw.get("campaign-id"))
    callees, uri = raw.get("callees"), raw.get("callees-s3-uri")
    problems += _callee_source_problems(callees, uri)
    rate = _given(raw, "calls-per-second", default_calls_per_second)
    concurrent = _given(raw, "max-concurrent-calls", DEFAULT_MAX_CONCURRENT_CALLS)
    skip = _given(raw, "skip-invalid-rows", False)
    problems += _pacing_problems(rate, concurrent, max_calls_per_second)
    if not isinstance(skip, bool):
        problems.append(FieldProblem("skip-invalid-rows", "must be true or false"))
    if not problems:
        problems += template_problems(instruction)
    if problems:
        raise InvalidRequest(problems)
    return CampaignRequest(
        campaign_id=raw.get("campaign-id"),
        instruction=instruction,
        callees=callees,
        callees_s3_uri=uri,
        calls_per_second=float(rate),
        max_concurrent_calls=int(concurrent),
        skip_invalid_rows=bool(skip),
    )


def _unknown_beside(extra: Mapping[str, Any]) -> dict[str, FieldProblem]:
    """The keys beside ``instruction`` that are neither the campaign's nor an instruction's
    (a misspelt ``calls_per_second``): named where they were written, with the nearest key
    of either as a hint, as a single POST does — not as ``instruction.<key>``."""
    if not extra:
        return {}
    from dtmf_gateway.domain.request import DtmfCallRequest
    from dtmf_gateway.domain.request_limits import REFUSED_KEYS
    from dtmf_gateway.domain.request_messages import _unknown_key_message

    keys = {f.alias or name for name, f in DtmfCallRequest.model_fields.items()}
    known = (*CAMPAIGN_KEYS, *sorted(keys - set(ROW_KEYS)))
    return {
        key: FieldProblem(key, _unknown_key_message(key, known))
        for key in extra
        if key not in keys and key not in REFUSED_KEYS
    }


def _given(raw: Mapping[str, Any], key: str, default: Any) -> Any:
    """The key's value; its default when absent or null."""
    value = raw.get(key)
    return default if value is None else value


def _pacing_problems(rate: object, concurrent: object, max_rate: float) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
        problems.append(FieldProblem("calls-per-second", "must be a number"))
    elif not MIN_CALLS_PER_SECOND <= rate <= max_rate:
        problems.append(
            FieldProblem(
                "calls-per-second",
                f"must be between {MIN_CALLS_PER_SECOND} and {max_rate:g} "
                f"(the stack's CmMaxCallsPerSecond), got {rate}",
            )
        )
    if not _whole(concurrent) or not 1 <= int(concurrent) <= MAX_CONCURRENT_CALLS:  # type: ignore[call-overload]
        problems.append(
            FieldProblem(
                "max-concurrent-calls", f"must be a whole number from 1 to {MAX_CONCURRENT_CALLS}"
            )
        )
    return problems


def _whole(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value == int(value)
    )


def _campaign_id_problems(campaign_id: object) -> list[FieldProblem]:
    if campaign_id is None:
        return []
    if (
        not isinstance(campaign_id, str)
        or not 1 <= len(campaign_id) <= CAMPAIGN_ID_MAX_LENGTH
        or not CAMPAIGN_ID.fullmatch(campaign_id)
    ):
        return [
            FieldProblem(
                "campaign-id",
                f"must be 1 to {CAMPAIGN_ID_MAX_LENGTH} characters of A-Z a-z 0-9 . _ : - "
                "(not only dots)",
            )
        ]
    return []


def _callee_source_problems(callees: object, uri: object) -> list[FieldProblem]:
    problem: FieldProblem | None = None
    if callees is not None and uri is not None:
        problem = FieldProblem("callees", "give either callees or callees-s3-uri, not both")
    elif callees is None and uri is None:
        problem = FieldProblem("callees", "is required (or callees-s3-uri)")
    elif callees is None:
        if not isinstance(uri, str) or not S3_URI.fullmatch(uri):
            problem = FieldProblem("callees-s3-uri", "must be an s3://bucket/key URI")
    elif not isinstance(callees, list) or not callees:
        problem = FieldProblem("callees", "must be a non-empty array of rows")
    elif len(callees) > MAX_INLINE_ROWS:
        problem = FieldProblem(
            "callees",
            f"at most {MAX_INLINE_ROWS} rows inline, got {len(callees)}; "
            "put longer lists in S3 (callees-s3-uri)",
        )
    return [problem] if problem else []


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3://bucket/key`` URI already validated by the request."""
    match = S3_URI.fullmatch(uri)
    if match is None:
        raise ValueError("not an s3://bucket/key URI")
    return match["bucket"], match["key"]


# ---------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class Row:
    """One callee row as read: its number (from 1) and raw values (any JSON for JSON Lines,
    strings for CSV)."""

    number: int
    callee: object
    metadata: object = None
    variables: object = None
    unknown: tuple[str, ...] = ()  # keys a JSON row has that a row may not


@dataclass(frozen=True, slots=True)
class ValidRow:
    """A row that passed validation: ``callee`` in E.164, ``metadata`` and ``variables`` as
    given. ``duplicate_of`` is the first row with the same number (then it is not called)."""

    number: int
    callee: str
    metadata: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    duplicate_of: int | None = None

    def message(self, campaign_id: str) -> dict[str, Any]:
        """The row as queued for placement (JSON)."""
        return {
            "campaign-id": campaign_id,
            "row": self.number,
            "callee": self.callee,
            "metadata": self.metadata,
            "variables": self.variables,
        }


@dataclass(frozen=True, slots=True)
class RowErrors:
    """A row that failed validation and why (``field``: the key in the row's instruction)."""

    number: int
    problems: tuple[FieldProblem, ...]

    def line(self) -> dict[str, Any]:
        """Its line in ``errors-uri``: ``row``, ``errors`` (``field``, ``message``)."""
        return {
            "row": self.number,
            "errors": [{"field": p.field, "message": p.message} for p in self.problems],
        }


_ROW_KEYS: Final = frozenset({"callee", "metadata", "variables"})


def row_of_json(number: int, value: object) -> Row:
    """A row of an inline ``callees`` array or a JSON Lines object."""
    if not isinstance(value, dict):
        return Row(number, None, unknown=("(row)",))
    return Row(
        number,
        value.get("callee"),
        value.get("metadata"),
        value.get("variables"),
        tuple(sorted(k for k in value if k not in _ROW_KEYS)),
    )


def rows_of_jsonl(lines: Iterable[str]) -> Iterator[Row]:
    """The rows of a JSON Lines text (blank lines skipped, not numbered)."""
    number = 0
    for line in lines:
        if not line.strip():
            continue
        number += 1
        try:
            value = json.loads(line)
        except ValueError:
            yield Row(number, None, unknown=("(json)",))
            continue
        yield row_of_json(number, value)


def rows_of_csv(lines: Iterable[str]) -> Iterator[Row]:
    """The rows of a CSV text whose header names ``callee`` and, optionally, columns
    ``metadata.<key>`` (the row's metadata) and any others (the row's variables). Empty
    cells are absent values."""
    reader = csv.DictReader(lines)
    number = 0
    while True:
        number += 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error:
            # a record the CSV reader refuses (a cell over its field limit, a NUL): that row
            # is invalid, the rows after it are still read (the reader starts afresh)
            yield Row(number, None, unknown=("(csv)",))
            continue
        metadata: dict[str, str] = {}
        variables: dict[str, str] = {}
        for column, value in record.items():
            if column is None or column == "callee" or value in (None, ""):
                continue
            if column.startswith(CSV_METADATA_PREFIX):
                metadata[column.removeprefix(CSV_METADATA_PREFIX)] = value
            else:
                variables[column] = value
        yield Row(number, record.get("callee"), metadata or None, variables or None)


def rows_of_text(text_lines: Iterable[str], *, key: str) -> Iterator[Row]:
    """The rows of a callee file: CSV when its name ends in ``.csv``, else JSON Lines."""
    if key.lower().endswith(".csv"):
        return rows_of_csv(text_lines)
    return rows_of_jsonl(text_lines)


def csv_header_problem(first_line: str) -> str | None:
    """Why a CSV header cannot be read (None when it names ``callee``)."""
    header = next(csv.reader(io.StringIO(first_line)), [])
    if "callee" not in header:
        return "the CSV header must name a callee column"
    if len(set(header)) != len(header):
        # csv.DictReader would keep the last of two equal columns, silently
        return "the CSV header names a column twice"
    return None


def fill(text: str, variables: Mapping[str, str]) -> tuple[str, list[str]]:
    """``text`` with each ``{{name}}`` replaced by ``variables[name]``, and the names that
    have no value (left as they were)."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name in variables:
            return variables[name]
        missing.append(name)
        return match[0]

    return PLACEHOLDER.sub(replace, text), missing


def template_problems(template: Mapping[str, Any]) -> list[FieldProblem]:
    """Problems of the template no row can mend: the template with each placeholder filled
    by ``0`` and the caller as its callee is validated like a single POST; problems about the
    callee are left to the rows."""
    from dtmf_gateway.domain.request import parse_dtmf_call_request

    probe = dict(template)
    for key in PROMPT_KEYS:
        if isinstance(probe.get(key), str):
            probe[key] = PLACEHOLDER.sub("0", probe[key])
    probe["callee"] = template.get("caller")
    try:
        parse_dtmf_call_request(probe)
    except InvalidRequest as error:
        return [
            FieldProblem(f"instruction.{p.field}", p.message)
            for p in error.problems
            if not p.field.startswith("callee")
        ]
    return []


def _strings(value: object, what: str) -> tuple[dict[str, str], list[FieldProblem]]:
    if value is None:
        return {}, []
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return {}, [FieldProblem(what, "must be an object of strings")]
    return dict(value), []


def derived_campaign_id(owner: str, idempotency_key: str) -> str:
    """The campaign id of a create that names none but carries an Idempotency-Key: ``k-`` +
    the first 32 hex digits of sha256("campaign" "\\n" owner "\\n" key). A retried create
    (a timeout, a client's retry) then meets the campaign it made instead of making a second
    one that would call every callee again; another body under the key is 409, as for a
    repeated `campaign-id`."""
    digest = hashlib.sha256(f"campaign\n{owner}\n{idempotency_key}".encode()).hexdigest()
    return DERIVED_ID_PREFIX + digest[:32]


def row_instruction_id(campaign_id: str, row: int) -> str:
    """The instruction id of a campaign's row: ``{campaign-id}.{row-number}``."""
    return f"{campaign_id}.{row}"


_UNREADABLE: Final = {
    "(csv)": "is not a readable CSV record (a cell over 131,072 characters, or a NUL)",
    "(header)": "must name a callee column, and each column once",
}


def _xml_text(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def row_body(
    template: Mapping[str, Any], row: Row, campaign_id: str
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The row's instruction body (before validation) and the problems found building it:
    unknown row keys, non-string metadata/variables, placeholders without a value."""
    problems = [FieldProblem(k, _UNREADABLE.get(k, "is not a key of a row")) for k in row.unknown]
    variables, found = _strings(row.variables, "variables")
    problems += found
    metadata, found = _strings(row.metadata, "metadata")
    problems += found
    # a list file is read as UTF-8 with undecodable bytes replaced (U+FFFD): a list saved in
    # another encoding (Excel's "CSV" on Windows: cp1252) would speak "Zo\ufffd" for "Zoë"
    for kind, values in (("variables", variables), ("metadata", metadata)):
        problems += [
            FieldProblem(f"{kind}.{name}", "is not UTF-8 text (save the list as UTF-8)")
            for name, value in values.items()
            if "\ufffd" in value
        ]
    body = dict(template)
    for key in PROMPT_KEYS:
        if isinstance(body.get(key), str):
            values = variables
            if parse_prompt_type(body.get(f"{key}-type")) is PromptType.TTS_SSML:
                # a row's values are text, never markup: "Smith & Sons" is spoken, and a cell
                # cannot add <break>, <audio> or end the <speak> element
                values = {name: _xml_text(value) for name, value in variables.items()}
            body[key], missing = fill(body[key], values)
            problems += [
                FieldProblem(f"variables.{name}", f"is needed by {key} ({{{{{name}}}}})")
                for name in dict.fromkeys(missing)
            ]
    template_metadata = template.get("metadata")
    if isinstance(template_metadata, dict) or metadata:
        body["metadata"] = {**(template_metadata or {}), **metadata}
    body["callee"] = row.callee
    body["instruction-id"] = row_instruction_id(campaign_id, row.number)
    return body, problems


def row_request(
    template: Mapping[str, Any],
    row: Row,
    campaign_id: str,
    policy: DialPolicy,
    *,
    validated: bool = False,
) -> DtmfCallRequest:
    """The row's validated instruction (the same model and dialling policy as a single
    POST). ``validated``: the row passed the campaign's validation already (its placer
    builds it again): the checks that depend on the machine's load are left out, as for a
    scheduled dial (``parse_dtmf_call_request(stored=True)``), so a busy worker never
    refuses a row its validation accepted. Raises :class:`InvalidRequest` listing every
    problem of the row, policy refusals included (as ``field``/``message``)."""
    from dtmf_gateway.domain.request import parse_dtmf_call_request

    body, problems = row_body(template, row, campaign_id)
    try:
        request = parse_dtmf_call_request(body, stored=validated)
    except InvalidRequest as error:
        raise InvalidRequest([*problems, *error.problems]) from None
    if problems:
        raise InvalidRequest(problems)
    try:
        policy.enforce(request)
    except PolicyRefused as refused:
        raise InvalidRequest(
            [FieldProblem(v.field, f"{v.message} ({v.rule})") for v in refused.violations]
        ) from None
    return request


class RowValidator:
    """Validates the rows of one campaign in order, remembering the numbers seen so that a
    number's later rows are duplicates of its first (called once)."""

    def __init__(self, template: Mapping[str, Any], campaign_id: str, policy: DialPolicy):
        self._template = template
        self._campaign_id = campaign_id
        self._policy = policy
        self._first_row: dict[str, int] = {}

    def check(self, row: Row) -> ValidRow | RowErrors:
        try:
            request = row_request(self._template, row, self._campaign_id, self._policy)
        except InvalidRequest as error:
            return RowErrors(row.number, tuple(error.problems))
        callee = request.all_callees()[0]
        first = self._first_row.setdefault(callee, row.number)
        metadata, _ = _strings(row.metadata, "metadata")
        variables, _ = _strings(row.variables, "variables")
        return ValidRow(
            row.number,
            callee,
            metadata,
            variables,
            duplicate_of=first if first != row.number else None,
        )


def row_from_message(message: Mapping[str, Any]) -> tuple[str, Row]:
    """(campaign id, row) of a queued row message (see :meth:`ValidRow.message`)."""
    return str(message["campaign-id"]), Row(
        int(message["row"]), message["callee"], message.get("metadata"), message.get("variables")
    )
