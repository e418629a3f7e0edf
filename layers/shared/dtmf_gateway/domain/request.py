"""The ``POST /v1/dtmf-calls`` body: CM's "Request DTMF" instruction, validated.

The body is CM's own instruction with CM's kebab-case keys (so a CM user can paste a
payload, including the exact payload of CM's .NET SDK), minus ``callback-url`` (the service
sets it) and plus an optional flat ``metadata`` object. Field rules follow
``docs/cm-dtmf-contract.md`` §1 and the seed's ranges.

Entry point: :func:`parse_dtmf_call_request`, which raises
:class:`~dtmf_gateway.domain.errors.InvalidRequest` listing *every* offending field by its
JSON name, with a human message, cross-field rules included.

Where each rule lives: limits and enums in :mod:`~dtmf_gateway.domain.request_limits`,
field rules in :mod:`~dtmf_gateway.domain.request_fields`, rules across fields in
:mod:`~dtmf_gateway.domain.request_rules`, the messages a client reads in
:mod:`~dtmf_gateway.domain.request_messages`; this module holds the model.

Wire conventions:

* an explicit ``null`` is the same as leaving the key out (the SDK sends nulls), so a key
  with a default takes its default;
* enums accept the canonical names (case-insensitive) and the SDK's integers
  (``File``=0, ``TTS``=1, ``TTS_SSML``=2; ``Male``=0, ``Female``=1); output uses the names;
* numbers must be JSON numbers (``"4"`` is refused), integers may be written ``4.0`` (JSON
  Schema's integer), booleans must be JSON booleans;
* phone numbers are kept parsed (:class:`~dtmf_gateway.domain.phone.PhoneNumber`: E.164,
  region, number type) and written in E.164 (``+31 6 1234 5678`` becomes ``+31612345678``).
"""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from dtmf_gateway.domain.digits_protection import (
    DigitsMode,
    DigitsModeField,
    ExpectedDigits,
    digits_mode_problems,
)
from dtmf_gateway.domain.errors import FieldProblem, InvalidRequest
from dtmf_gateway.domain.ids import DERIVED_ID, RESERVED_ID_MESSAGE
from dtmf_gateway.domain.phone import PhoneNumber
from dtmf_gateway.domain.request_fields import (
    STORED_REQUEST,
    CalleeList,
    GenderField,
    InputRegex,
    Metadata,
    PhoneField,
    PromptText,
    PromptTypeField,
    Terminators,
    WholeNumber,
    drop_nulls,
    fail,
    is_stored_request,
)
from dtmf_gateway.domain.request_limits import (
    DEFAULT_KEY_TIMEOUT_MS,
    DEFAULT_LANGUAGE,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_DIGITS,
    DEFAULT_MIN_DIGITS,
    DEFAULT_REGEX,
    DEFAULT_RINGING_TIMEOUT,
    DEFAULT_TERMINATORS,
    INSTRUCTION_ID_MAX_LENGTH,
    INSTRUCTION_ID_PATTERN,
    LANGUAGE_PATTERN,
    MAX_ATTEMPTS,
    MAX_DIGITS_LIMIT,
    MAX_KEY_TIMEOUT_MS,
    MAX_REPORTED_PROBLEMS,
    MAX_RINGING_TIMEOUT,
    MAX_VOICE_NUMBER,
    MAX_VOLUME,
    MIN_ATTEMPTS,
    MIN_DIGITS_LIMIT,
    MIN_KEY_TIMEOUT_MS,
    MIN_RINGING_TIMEOUT,
    MIN_VOICE_NUMBER,
    MIN_VOLUME,
    NO_DISABLE_VALIDATION,
    REFUSED_KEYS,
    Gender,
    PromptType,
    parse_prompt_type,
)
from dtmf_gateway.domain.request_messages import BODY, describe_input, problems_from, report
from dtmf_gateway.domain.request_rules import cross_field_problems
from dtmf_gateway.domain.request_schedule import (
    QUIET_HOURS_KEYS,
    REDIAL_KEYS,
    QuietHoursWindow,
    RedialPolicy,
    Rfc3339Time,
    opted_out,
)
from dtmf_gateway.domain.webhook_targets import WebhookTargets

__all__ = [
    "DtmfCallRequest",
    "Gender",
    "PromptType",
    "Voice",
    "parse_dtmf_call_request",
    "parse_prompt_type",
]


class Voice(BaseModel):
    """The TTS voice (``voice`` object); unknown keys are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    language: StrictStr = Field(DEFAULT_LANGUAGE, pattern=LANGUAGE_PATTERN)
    gender: GenderField = Gender.FEMALE
    number: WholeNumber = Field(MIN_VOICE_NUMBER, ge=MIN_VOICE_NUMBER, le=MAX_VOICE_NUMBER)
    volume: WholeNumber = Field(0, ge=MIN_VOLUME, le=MAX_VOLUME)
    premium: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return drop_nulls(data, _VOICE_KEYS)


_VOICE_KEYS: Final = frozenset(Voice.model_fields)


class DtmfCallRequest(BaseModel):
    """A validated DTMF call request. Build it with :func:`parse_dtmf_call_request`."""

    # (The docstring is the OpenAPI description.) ``caller``, ``callee`` and ``callees``
    # hold parsed PhoneNumber records (their E.164 form in JSON); the rules across fields
    # run once, inside validation (see _cross_field_rules).

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    instruction_id: StrictStr | None = Field(
        None,
        alias="instruction-id",
        min_length=1,
        max_length=INSTRUCTION_ID_MAX_LENGTH,
        pattern=INSTRUCTION_ID_PATTERN,
    )
    callee: PhoneField | None = None
    callees: CalleeList = None
    caller: PhoneField
    anonymous: StrictBool = False
    disable_callees_validation: StrictBool = Field(False, alias="disable-callees-validation")
    max_ringing_timeout: WholeNumber = Field(
        DEFAULT_RINGING_TIMEOUT,
        alias="max-ringing-timeout",
        ge=MIN_RINGING_TIMEOUT,
        le=MAX_RINGING_TIMEOUT,
    )
    prompt: PromptText
    prompt_type: PromptTypeField = Field(PromptType.TTS, alias="prompt-type")
    valid_prompt: PromptText = Field(alias="valid-prompt")  # required (CM's reference page)
    valid_prompt_type: PromptTypeField = Field(PromptType.TTS, alias="valid-prompt-type")
    invalid_prompt: PromptText | None = Field(None, alias="invalid-prompt")
    invalid_prompt_type: PromptTypeField = Field(PromptType.TTS, alias="invalid-prompt-type")
    min_digits: WholeNumber = Field(
        DEFAULT_MIN_DIGITS, alias="min-digits", ge=MIN_DIGITS_LIMIT, le=MAX_DIGITS_LIMIT
    )
    max_digits: WholeNumber = Field(
        DEFAULT_MAX_DIGITS, alias="max-digits", ge=MIN_DIGITS_LIMIT, le=MAX_DIGITS_LIMIT
    )
    max_attempts: WholeNumber = Field(
        DEFAULT_MAX_ATTEMPTS, alias="max-attempts", ge=MIN_ATTEMPTS, le=MAX_ATTEMPTS
    )
    timeout: WholeNumber = Field(
        DEFAULT_KEY_TIMEOUT_MS, ge=MIN_KEY_TIMEOUT_MS, le=MAX_KEY_TIMEOUT_MS
    )
    terminators: Terminators = DEFAULT_TERMINATORS
    regex: InputRegex = DEFAULT_REGEX
    voice: Voice = Field(default_factory=Voice)
    metadata: Metadata = None
    # -- round 2, signed webhooks (domain/webhooks.py) ----------------------------------
    webhook_url: StrictStr | None = Field(
        None,
        alias="webhook-url",
        description="https URL every result event of the instruction is POSTed to, signed "
        "per Standard Webhooks; its host must be in the stack's AllowedWebhookHosts",
    )

    # -- round 2, issue 19: protecting the typed digits (domain/digits_protection.py) ------
    digits_mode: DigitsModeField = Field(DigitsMode.PLAIN, alias="digits-mode")
    expected_digits: ExpectedDigits | None = Field(None, alias="expected-digits", repr=False)
    # -- end of issue 19's block -------------------------------------------------------------
    # -- round 2 (#16): scheduling, gateway keys never sent to CM (domain/request_schedule.py)
    not_before: Rfc3339Time | None = Field(None, alias="not-before")
    not_after: Rfc3339Time | None = Field(None, alias="not-after")
    quiet_hours: QuietHoursWindow | None = Field(None, alias="quiet-hours")
    redial: RedialPolicy | None = None
    # -- end of round 2 (#16)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return opted_out(drop_nulls(data, _NULLABLE_KEYS))

    @model_validator(mode="wrap")
    @classmethod
    def _cross_field_rules(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Run the rules across fields once: on the valid fields, or, when some field is
        invalid, on the raw body, so that every problem is reported together."""
        try:
            request = handler(data)
        except ValidationError as error:
            problems = cross_field_problems(data) if isinstance(data, dict) else []
            if isinstance(data, dict):
                problems += digits_mode_problems(data)  # issue 19
            if not problems:
                raise
            raise ValidationError.from_exception_data(
                cls.__name__,
                [*_line_errors(error), _multi_error(problems, data)],
            ) from None
        fields = request.by_alias()
        problems = cross_field_problems(fields)
        problems += digits_mode_problems(fields)  # issue 19
        if problems:
            raise _multi_error_type(problems)
        return request

    @field_validator("instruction_id")
    @classmethod
    def _not_a_derived_id(cls, value: str | None) -> str | None:
        if value is not None and DERIVED_ID.fullmatch(value):
            raise fail(RESERVED_ID_MESSAGE)
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_target_allowed(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Checked against the stack's policy given by parse_dtmf_call_request (none given:
        no host is allowed, as with an empty AllowedWebhookHosts). A stored request's target
        is not checked here: every delivery checks it against the policy of the moment
        (domain.webhooks)."""
        if value is None or is_stored_request(info):
            return value
        context = info.context if isinstance(info.context, dict) else {}
        targets = context.get(WEBHOOK_TARGETS) or WebhookTargets(frozenset())
        problem = targets.problem(value)
        if problem is not None:
            raise fail(problem)
        return value

    @field_validator("disable_callees_validation")
    @classmethod
    def _validation_stays_on(cls, value: bool) -> bool:
        if value:
            raise fail(NO_DISABLE_VALIDATION)
        return value

    # -- what the rest of the service needs -------------------------------------------

    def by_alias(self) -> dict[str, Any]:
        """The validated values under their JSON names (numbers as :class:`PhoneNumber`)."""
        return {
            field.alias or name: getattr(self, name)
            for name, field in type(self).model_fields.items()
        }

    def callee_numbers(self) -> list[tuple[str, PhoneNumber]]:
        """``(JSON path, parsed number)`` per callee: ``("callee", …)`` or
        ``("callees[i]", …)``, in the order given."""
        if self.callee is not None:
            return [("callee", self.callee)]
        return [(f"callees[{i}]", number) for i, number in enumerate(self.callees or ())]

    def all_callees(self) -> list[str]:
        """The numbers to call, E.164, in the order given."""
        return [number.e164 for _, number in self.callee_numbers()]

    def callee_fields(self) -> list[tuple[str, str]]:
        """``(JSON path, E.164)`` per callee: ``("callee", …)`` or ``("callees[i]", …)``."""
        return [(path, number.e164) for path, number in self.callee_numbers()]

    def canonical_json(self, expected_digits_hash: str | None = None) -> str:
        """Stable JSON of the normalised request (sorted keys, E.164 numbers, enum names,
        fields at their default left out): equal requests give equal text, for idempotency
        hashing. Leaving defaults out keeps every stored hash valid when a release adds an
        optional field (its default is absent from old and new text alike).

        ``expected-digits`` is never in the text (the text is hashed without a key, and a
        bare hash of a PIN is easily reversed): ``expected_digits_hash``, its keyed hash
        (``domain.digits_protection.digits_hash``), stands in for it when given."""
        values = self.model_dump(
            mode="json", by_alias=True, exclude_defaults=True, exclude={"expected_digits"}
        )
        if self.expected_digits is not None and expected_digits_hash is not None:
            values["expected-digits-hash"] = expected_digits_hash
        return json.dumps(
            values,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )


_FIELD_ALIASES: Final[tuple[str, ...]] = tuple(
    field.alias or name for name, field in DtmfCallRequest.model_fields.items()
)
_NULLABLE_KEYS: Final = (
    frozenset(_FIELD_ALIASES) | frozenset(DtmfCallRequest.model_fields) | frozenset(REFUSED_KEYS)
)
_KNOWN_KEYS: Final = {
    "": _FIELD_ALIASES,
    "voice": tuple(_VOICE_KEYS),
    "quiet-hours": QUIET_HOURS_KEYS,
    "redial": REDIAL_KEYS,
}


def _multi_error_type(problems: list[FieldProblem]) -> PydanticCustomError:
    return PydanticCustomError(
        "dtmf_multi",
        "{summary}",
        {
            "summary": "; ".join(f"{p.field}: {p.message}" for p in problems),
            "problems": [(p.field, p.message) for p in problems],
            "absolute": True,
        },
    )


def _multi_error(problems: list[FieldProblem], data: object) -> InitErrorDetails:
    return {"type": _multi_error_type(problems), "loc": (), "input": data}


def _line_errors(error: ValidationError) -> list[InitErrorDetails]:
    """``error``'s errors again, to be raised together with more (pydantic has no append)."""
    details: list[InitErrorDetails] = []
    for item in error.errors(include_url=False):
        ctx = item.get("ctx")
        kind = item["type"]
        if kind.startswith("dtmf"):
            template = "{reason}" if kind == "dtmf" else "{summary}"
            details.append(
                {
                    "type": PydanticCustomError(kind, template, ctx),
                    "loc": item["loc"],
                    "input": item["input"],
                }
            )
        else:
            detail: InitErrorDetails = {"type": kind, "loc": item["loc"], "input": item["input"]}
            if ctx:
                detail["ctx"] = ctx
            details.append(detail)
    return details


#: The validation-context key of the stack's webhook policy (:class:`WebhookTargets`).
WEBHOOK_TARGETS: Final = "webhook-targets"


def parse_dtmf_call_request(
    raw: object, *, webhook_targets: WebhookTargets | None = None, stored: bool = False
) -> DtmfCallRequest:
    """Validate a decoded JSON body; raise :class:`InvalidRequest` listing every problem.

    ``webhook_targets`` is the stack's webhook policy (``AllowedWebhookHosts``); without it a
    ``webhook-url`` is refused. ``stored``: the body is a request the gateway accepted and
    stored (a scheduled callee's, ``dialling.request_for``): the checks that are not rules
    of the request are left out — the ``regex``'s timed probes (their time limits depend on
    the machine's load: a busy dial would refuse a pattern vetted when it was accepted) and
    the ``webhook-url`` target (each delivery checks it, ``domain.webhooks``). Every other
    rule runs, so a rule tightened since the request was accepted still refuses it.

    Only CM's kebab-case keys are accepted here (``min_digits`` is an unknown field
    pointing at ``min-digits``); cross-field rules are reported together with field
    errors.
    """
    if not isinstance(raw, dict):
        raise InvalidRequest(
            [
                FieldProblem(
                    BODY, f"must be a JSON object (the instruction), not {describe_input(raw)}"
                )
            ]
        )
    try:
        return DtmfCallRequest.model_validate(
            raw,
            by_alias=True,
            by_name=False,
            context={WEBHOOK_TARGETS: webhook_targets, STORED_REQUEST: stored},
        )
    except ValidationError as error:
        problems = problems_from(error, _KNOWN_KEYS, MAX_REPORTED_PROBLEMS)
        raise InvalidRequest(report(problems, error.error_count(), _FIELD_ALIASES)) from None
