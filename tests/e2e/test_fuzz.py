"""The fuzz gate (issue 13): schemathesis against the deployed local stack, held to
schemas/openapi.json.

Every operation of the document is fuzzed with generated requests — positive (what the
document allows) and negative (what it forbids) — SigV4-signed as a real client (IAM is
enforced by the local stack), then the document's own examples are sent, then a stateful run
follows the document's links (POST 202 → GET of its `instruction-id`). Every response must:
not be a 5xx; have a status the operation documents; have a documented content type, body
and headers. Phone numbers are drawn from libphonenumber's example numbers of the countries
the stack allows (the document's `format: e164`), so generated placements reach the 202 path
(the CM simulator's default callee answers); the gate fails if none did.

Bounded and reproducible: a fixed seed, a fixed number of examples per operation, no
shrinking (a failure is reported as found), no example database.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from stack_client import CREDENTIALS, LocalStack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "schemas" / "openapi.json"
SEED = 13
#: Generated requests per operation and mode (positive, negative), and stateful scenarios.
EXAMPLES = {
    "placeDtmfCall": 60,
    "getDtmfCall": 20,
    "receiveCmCallback": 20,
    "eraseDtmfCallPersonalData": 20,  # issue 19
    # round 2 (#16)
    "cancelDtmfCall": 20,
    "listDtmfCalls": 20,
    # round 2 (#17): a generated campaign with valid rows places calls, so a few
    "createDtmfCampaign": 20,
    "getDtmfCampaign": 20,
    "pauseDtmfCampaign": 10,
    "resumeDtmfCampaign": 10,
    "cancelDtmfCampaign": 10,
}
STATEFUL_SCENARIOS = 10
STATEFUL_STEPS = 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: The countries the local stack allows (template default) and the number types it dials.
REGIONS = ("NL", "BE", "DE", "FR", "GB", "IE", "ES", "IT", "AT", "CH", "DK", "SE", "US", "CA")
TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)


def _valid_numbers() -> list[str]:
    numbers = []
    for region in REGIONS:
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(
                    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                )
    return sorted(set(numbers))


class SigV4(requests.auth.AuthBase):
    """Sign the prepared request (its final URL, headers and body bytes) as the e2e client."""

    def __init__(self, region: str) -> None:
        self.region = region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if "/v1/callbacks/" in (request.url or ""):
            return request  # CM cannot sign: the token is the authentication
        signed = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=dict(request.headers)
        )
        SigV4Auth(CREDENTIALS, "execute-api", self.region).add_auth(signed)
        request.headers.update(dict(signed.headers))
        return request


class CountingSession(requests.Session):
    """A session that tallies every response by operation and status."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: Counter[tuple[str, int]] = Counter()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        self.statuses[(f"{request.method} {_route(request.url or '')}", response.status_code)] += 1
        return response


def _route(url: str) -> str:
    path = url.split("?", maxsplit=1)[0]
    if "/v1/dtmf-campaigns" in path:
        parts = path.split("/v1/dtmf-campaigns", 1)[1].split("/")[1:]  # [id, action]
        route = "/v1/dtmf-campaigns" + ("/{campaign-id}" if parts else "")
        return route + "".join(f"/{action}" for action in parts[1:2])
    for route in ("/v1/dtmf-calls/", "/v1/callbacks/cm/"):
        if route in path:
            erase = "/personal-data" if path.endswith("/personal-data") else ""
            return route + "{instruction-id}" + erase
    return "/v1/dtmf-calls"


@pytest.fixture(scope="module")
def fuzz(stack: LocalStack) -> tuple[Any, CountingSession, SigV4]:
    schemathesis.openapi.format(
        "e164",
        st.one_of(
            st.sampled_from(_valid_numbers()),
            st.from_regex(r"\A\+[1-9][0-9]{6,14}\Z"),
        ),
    )
    schema = schemathesis.openapi.from_path(OPENAPI)
    schema.config.update(base_url=stack.api_url)
    return schema, CountingSession(), SigV4(stack.region)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # no shrinking: bounded, and the failure is shown as found
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )


def test_the_api_answers_only_what_its_document_says(
    fuzz: tuple[Any, CountingSession, SigV4],
) -> None:
    schema, session, auth = fuzz
    started = time.monotonic()

    for result in schema.get_all_operations():
        operation = result.ok()
        examples = EXAMPLES[operation.definition.raw["operationId"]]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @seed(SEED)
            @_settings(examples)
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz_operation(case: Any) -> None:
                case.call_and_validate(session=session, checks=CHECKS, auth=auth)

            fuzz_operation()

    # the document's own examples: every request example is accepted (202) as documented
    place = schema["/v1/dtmf-calls"]["POST"]
    document = json.loads(OPENAPI.read_text())
    bodies = document["paths"]["/v1/dtmf-calls"]["post"]["requestBody"]["content"]
    for example in bodies["application/json"]["examples"].values():
        body = {k: v for k, v in example["value"].items() if k != "instruction-id"}
        case = place.Case(body=body, media_type="application/json")
        response = case.call_and_validate(session=session, checks=CHECKS, auth=auth)
        assert response.status_code == 202, response.text

    # stateful: the document's links, POST 202 → GET its instruction
    class Links(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"session": session, "auth": auth}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Links.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )

    elapsed = time.monotonic() - started
    total = sum(session.statuses.values())
    summary = {f"{route} {status}": n for (route, status), n in sorted(session.statuses.items())}
    print(f"\nfuzz gate: {total} requests in {elapsed:.0f} s, seed {SEED}: {summary}")
    assert not [key for key in session.statuses if key[1] >= 500], summary
    assert session.statuses[("POST /v1/dtmf-calls", 202)] > len(
        bodies["application/json"]["examples"]
    )
    assert session.statuses[("GET /v1/dtmf-calls/{instruction-id}", 200)] > 0, summary
    fuzzed = {route for route, _ in session.statuses}
    for path, operations in document["paths"].items():  # every route of the document was hit
        for method in operations:
            assert f"{method.upper()} {path}" in fuzzed, (method, path, summary)
