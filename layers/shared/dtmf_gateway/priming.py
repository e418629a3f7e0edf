"""SnapStart priming: a request's one-off work done before the snapshot, not on the first request.

The first request of an execution environment pays for work the second one does not: botocore
builds each operation's model, serialiser and parser shapes and caches its event-hook lookups
on its first call; phonenumbers loads a region's metadata on its first number of that region,
and its time-zone tables on the first look-up; pydantic, the request rules and httpx compile
and cache what they meet first. With SnapStart (README "SnapStart") that work can be done
once, before the snapshot, and every environment restored from it starts with it done.

A primer here is registered with `snapstart.prime_before_snapshot` and runs only in a
SnapStart init, in the before-snapshot hook, before the hooks that drop caches and pools. It
touches **no network and no secret**:

- AWS operations are called on the function's own client (whose caches are the ones to warm)
  answered in-process by a canned 200 response, hooked in at botocore's ``before-send``
  event (the point where botocore would send the request) and inert afterwards, so no
  request leaves the process; the throw-away request is signed with whatever credentials the
  client finds, and nothing of it is kept. They name the function's own tables (botocore
  resolves and caches a DynamoDB endpoint per table name) and carry every attribute-value
  type, nested maps and lists, conditions and returned items, both ways: botocore resolves
  each place of its model a request or answer passes through once, on first use;
- the CM exchange runs through a throw-away httpx client on an in-process
  ``httpx.MockTransport``; the function's own CM client, its loop and its product token are not
  touched (the token is a secret: read after restore);
- Powertools' event handling runs on a made-up API event (`api_event`, every API function);
- the domain runs on sample requests whose callees are example numbers of the countries the
  stack allows (libphonenumber's own examples), with no instruction stored.

Figures (README "Performance and cost", ``python -m bench.warm --first-runs N --snapstart``):
place-call's first request after a restore, with and without priming.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from dtmf_gateway.domain.policy import DialPolicy

#: How many of the allowed countries' example numbers go through the request rules
#: (each loads its region's metadata; "*" allows all ~250: the first ones are primed).
MAX_PRIMED_REGIONS = 24
_UNRESTRICTED_SAMPLE = ("NL", "BE", "DE", "FR", "GB", "US")  # primed when every country is allowed
_PRIMING_HOOK = "dtmf-gateway-priming"


class _CannedBody(io.BytesIO):
    """The raw body botocore streams a response from (``stream`` as urllib3's)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


class _CannedAnswers:
    """The ``before-send`` handler priming registers once on a client (`aws_operations`):
    while ``body`` is set, it answers every request in-process with a 200 and that JSON body
    (a response ends botocore's send); otherwise it answers nothing and botocore sends as
    usual. It stays registered: botocore empties a client's event-lookup cache whenever a
    handler is registered or unregistered, so unregistering it would throw away the lookups
    priming made (a prefix search per event name, ~12 per operation) and leave them to the
    first request. Left in place it costs one call returning None per request sent."""

    def __init__(self, json_version: str) -> None:
        self._content_type = f"application/x-amz-json-{json_version}"
        self.body: bytes | None = None

    def __call__(self, request: Any, **_: Any) -> Any:
        if self.body is None:
            return None
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        headers = HTTPHeaders()
        headers["Content-Type"] = self._content_type
        headers["x-amzn-RequestId"] = "priming"
        return AWSResponse(request.url, 200, headers, _CannedBody(self.body))


_ANSWERS: WeakKeyDictionary[Any, _CannedAnswers] = WeakKeyDictionary()  # per client


def aws_operations(
    client: BaseClient,
    calls: Sequence[tuple[str, dict[str, Any]]],
    answer: Mapping[str, Any] | None = None,
) -> None:
    """Each ``(method, parameters)`` called once on ``client``, answered in-process by a 200
    response whose JSON body is ``answer`` (default ``{}``; members an operation's output
    lacks are ignored by botocore): botocore's per-operation one-off work (model, serialiser,
    endpoint rules, signer, parser, hook caches) is done, and nothing is sent."""
    import json

    answers = _ANSWERS.get(client)
    if answers is None:
        model = client.meta.service_model
        answers = _ANSWERS[client] = _CannedAnswers(model.metadata.get("jsonVersion", "1.0"))
        event = f"before-send.{model.service_id.hyphenize()}"
        client.meta.events.register_first(event, answers, unique_id=_PRIMING_HOOK)
    answers.body = json.dumps(answer or {}).encode()
    try:
        for method, parameters in calls:
            getattr(client, method)(**parameters)
    finally:
        answers.body = None


def sample_callees(policy: DialPolicy) -> list[str]:
    """An example mobile number (E.164, libphonenumber's) of each country ``policy`` allows,
    at most `MAX_PRIMED_REGIONS`; a few large ones when every country is allowed."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    regions = sorted(policy.allowed_countries or _UNRESTRICTED_SAMPLE)[:MAX_PRIMED_REGIONS]
    numbers = []
    for region in regions:
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
        if example is not None:
            numbers.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    return numbers


def sample_request(callee: str) -> dict[str, Any]:
    """A valid `POST /v1/dtmf-calls` body (the README's example) for ``callee``."""
    return {
        "instruction-id": "priming",
        "callee": callee,
        "caller": callee,
        "max-ringing-timeout": 30,
        "prompt": "Please type your four digit PIN and finish with the hash key.",
        "prompt-type": "TTS",
        "valid-prompt": "Thank you. Your PIN was received.",
        "valid-prompt-type": "TTS",
        "invalid-prompt": "That was not four digits.",
        "invalid-prompt-type": "TTS",
        "min-digits": 4,
        "max-digits": 4,
        "max-attempts": 3,
        "timeout": 8000,
        "terminators": "#",
        "regex": "[0-9]{4}",
        "voice": {"language": "en-GB", "gender": "Female", "number": 1, "volume": 0},
    }


def http_exchange() -> None:
    """One JSON POST through a throw-away httpx client on an in-process transport, on a
    throw-away event loop: httpx's request, response and cookie code paths, compiled once."""
    import asyncio

    import httpx

    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"type": "CallQueued", "call-id": "priming"}])

    async def exchange() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            response = await client.post(
                "https://priming.invalid/voiceapi/v2/DTMF",
                content="{}",
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            )
            response.json()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(exchange())
    finally:
        loop.close()


def api_event(correlation_id_path: str | None) -> None:
    """What every API request does first, on a made-up payload 2.0 event: Powertools'
    correlation-id query at ``correlation_id_path``, if any (jmespath compiles the path
    once), and its case-insensitive view of the headers (Python's first ``isinstance`` of a
    generator against ``Mapping`` walks every registered mapping class once). Registered by
    `api.gateway.lambda_handler` in every API function."""
    import jmespath  # type: ignore[import-untyped]  # (botocore's and Powertools' dependency)
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    event = {
        "version": "2.0",
        "headers": {"content-type": "application/json", "accept": "a, b"},
        "requestContext": {"requestId": "priming"},
    }
    if correlation_id_path:  # parsed once, into the parser's cache Powertools' query reads
        jmespath.compile(correlation_id_path)
    APIGatewayProxyEventV2(event).resolved_headers_field.get("content-type")


def _nested(kind: str, depth: int) -> dict[str, Any]:
    """A map (``kind`` "M") or list ("L") of a string, a number, a map and a list, nested
    ``depth`` deep: botocore resolves the model once per place in an item, so each level is
    primed on its own (the calls table's items nest maps and lists)."""
    values: list[dict[str, Any]] = [{"S": "a"}, {"N": "1"}]
    if depth > 1:
        values += [_nested("M", depth - 1), _nested("L", depth - 1)]
    if kind == "L":
        return {"L": values}
    return {"M": {str(i): value for i, value in enumerate(values)}}


_KEY = {"pk": {"S": "priming"}, "sk": {"S": "priming"}}
#: One value of each DynamoDB attribute-value type, maps and lists nested once.
_VALUES: dict[str, Any] = {
    ":s": {"S": "a"},
    ":n": {"N": "1"},
    ":b": {"B": "YQ=="},
    ":ss": {"SS": ["a"]},
    ":ns": {"NS": ["1"]},
    ":bool": {"BOOL": True},
    ":null": {"NULL": True},
    ":m": _nested("M", 3),
    ":l": _nested("L", 3),
}
_ITEM = {**_KEY, **{name.lstrip(":"): value for name, value in _VALUES.items()}}
_CONDITION = {
    "ConditionExpression": "attribute_not_exists(#a) OR #a = :s",
    "ExpressionAttributeNames": {"#a": "a"},
    "ExpressionAttributeValues": _VALUES,
}
#: A DynamoDB answer with an item both ways (GetItem's ``Item``, the others' ``Attributes``).
_DYNAMODB_ANSWER = {"Item": _ITEM, "Attributes": _ITEM}


#: The parameters of each primed DynamoDB operation, besides its table and condition.
_DYNAMODB_REQUESTS: dict[str, dict[str, Any]] = {
    "put_item": {"Item": _ITEM, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"},
    "update_item": {"Key": _KEY, "UpdateExpression": "SET #a = :s", "ReturnValues": "ALL_NEW"},
    "get_item": {"Key": _KEY, "ConsistentRead": True},
}


def _dynamodb_operations(methods: Sequence[str], tables: Sequence[str]) -> None:
    """Each of ``methods`` (keys of `_DYNAMODB_REQUESTS`) on the function's DynamoDB client,
    once per table of ``tables`` the function uses (empty names skipped: botocore resolves
    the endpoint per table name), answered in-process with an item."""
    from dtmf_gateway import wiring

    calls = [
        (
            method,
            {
                "TableName": table,
                **_DYNAMODB_REQUESTS[method],
                **(_CONDITION if method != "get_item" else {}),
            },
        )
        for table in dict.fromkeys(t for t in tables if t)
        for method in methods
    ]
    aws_operations(wiring.dynamodb(), calls, _DYNAMODB_ANSWER)


def _secrets_operation() -> None:
    """GetSecretValue on the secrets' own client, answered in-process with a made-up value:
    nothing is read, and the Powertools cache is not involved (the secrets are read after
    restore)."""
    from dtmf_gateway import wiring

    answer = {
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:priming",
        "Name": "priming",
        "VersionId": "priming",
        "SecretString": "priming",
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": 1.7e9,
    }
    aws_operations(
        wiring.managed_secrets().aws_client,
        [("get_secret_value", {"SecretId": "priming"})],
        answer,
    )


def place_call() -> None:
    """place-call's primer: its DynamoDB operations (PutItem, UpdateItem) and Secrets
    Manager's GetSecretValue, the request rules, the dial policy and the quiet-hours look-up
    on a sample request per allowed country, the CM payload, and an httpx exchange."""
    from dtmf_gateway import wiring
    from dtmf_gateway.adapters.cm_client import to_cm_payload
    from dtmf_gateway.domain.request import parse_dtmf_call_request
    from dtmf_gateway.domain.schedules import plan
    from dtmf_gateway.settings import settings

    s = settings()  # the instructions table, and the campaigns table of the stack's pacer
    _dynamodb_operations(("put_item", "update_item"), (s.table_name, s.campaigns_table_name))
    _secrets_operation()
    policy, rules = wiring.dial_policy(), wiring.scheduling_rules()
    now = datetime.now(UTC)
    for callee in sample_callees(policy):
        request = parse_dtmf_call_request(
            sample_request(callee), webhook_targets=wiring.webhook_targets()
        )
        policy.check(request)
        plan(request, now, rules)
        to_cm_payload(request, instruction_id="priming", callback_url="https://priming.invalid/")
    http_exchange()


def cm_callback() -> None:
    """cm-callback's primer: its DynamoDB operations (GetItem, UpdateItem) and Secrets
    Manager's GetSecretValue (its one-off work is botocore's: the callback's own rules are
    plain code)."""
    from dtmf_gateway.settings import settings

    _dynamodb_operations(("get_item", "update_item"), (settings().table_name,))
    _secrets_operation()
