"""`DtmfGatewayClient`: the dtmf-gateway API from Python, SigV4-signed, with typed answers.

Operations (OpenAPI operation ids in brackets): `place` (placeDtmfCall), `get` (getDtmfCall),
`wait` (GET until every callee is final), `cancel` (DELETE, round 2), `list` and
`iter_instructions` (GET /v1/dtmf-calls, round 2). Every non-2xx answer raises a
`DtmfGatewayError` subclass (errors.py) carrying `type`, `errors` and `retry_after`.

Retries: transport failures (connect errors, timeouts), `429`, `409 request-in-progress`
and `500`/`503` are retried up to `max_retries` times, waiting `Retry-After` when the answer
gives one, else exponential backoff from `backoff` seconds. A `Retry-After` longer than
`max_retry_wait` (60 s) is raised instead of slept, and so is a `429 policy-refused` (the
per-callee hourly limit: a dialling rule, not a throttle — the caller decides whether to ring
that person an hour later). A placement is retried with the
same `Idempotency-Key` (generated when not given), so a retry can never ring a person
twice: the gateway answers it from its record.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx
from botocore.credentials import Credentials

from dtmf_gateway_client.auth import SigV4
from dtmf_gateway_client.errors import DtmfGatewayError, error_of
from dtmf_gateway_client.models import Instruction, InstructionPage, Placement, dump_instruction

_RETRIED_STATUSES = frozenset({429, 500, 503})
_IN_FLIGHT = "request-in-progress"
_POLICY_REFUSED = "policy-refused"


def _default_credentials() -> Credentials:
    import botocore.session

    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise DtmfGatewayError(0, None, "no AWS credentials", "botocore found no credentials")
    return credentials


class DtmfGatewayClient:
    """A client of one dtmf-gateway stack.

    `api_url`: the stack's `ApiUrl` output (`https://{id}.execute-api.{region}.amazonaws.com/v1`
    or a custom domain; a trailing `/v1` is optional). `region`: the stack's region (the
    signature's scope). `credentials`: botocore credentials; None = botocore's default chain
    (environment, profile, role). `timeout`: seconds per request (httpx timeout).
    `max_retry_wait`: the longest `Retry-After` the client sleeps out itself; a longer one is
    raised (its `retry_after` says how long).
    """

    def __init__(
        self,
        api_url: str,
        region: str,
        credentials: Credentials | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_wait: float = 60.0,
    ) -> None:
        base = api_url.rstrip("/")
        self._base = base if base.endswith("/v1") else f"{base}/v1"
        self._http = httpx.Client(
            auth=SigV4(credentials or _default_credentials(), region),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            headers={"accept": "application/json, application/problem+json"},
        )
        self._max_retries = max_retries
        self._backoff = backoff
        self._sleep = sleep
        self._max_retry_wait = max_retry_wait

    def __enter__(self) -> DtmfGatewayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ operations
    def place(
        self, instruction: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Placement:
        """POST /v1/dtmf-calls: place a DTMF instruction (CM's kebab-case keys, plus
        `metadata`, `webhook-url`, ...). `idempotency_key` defaults to a new UUID, kept
        across this call's own retries. Raises InvalidRequest (422, `errors` per field),
        Forbidden (a dialling rule), Conflict, RateLimited, CmFailure.

        Whatever it raises — a problem, or the transport error of its last retry — carries the
        key it used as `idempotency_key`: retry with `place(instruction,
        idempotency_key=error.idempotency_key)`, never without it (a new key is a new
        instruction, and can ring the callee a second time)."""
        key = idempotency_key or str(uuid.uuid4())
        try:
            response = self._request(
                "POST",
                "/dtmf-calls",
                json=dump_instruction(dict(instruction)),
                headers={"idempotency-key": key},
            )
        except Exception as error:
            error.idempotency_key = key  # type: ignore[attr-defined]
            error.add_note(f"Idempotency-Key: {key} (retry with it, not without)")
            raise
        replayed = response.headers.get("idempotent-replayed", "").lower() == "true"
        return Placement.model_validate({**response.json(), "replayed": replayed})

    def get(self, instruction_id: str) -> Instruction:
        """GET /v1/dtmf-calls/{instruction-id}. NotFound when unknown, another principal's or
        past its retention."""
        return Instruction.model_validate(self._request("GET", _path(instruction_id)).json())

    def wait(
        self, instruction_id: str, *, timeout: float = 600.0, poll_interval: float = 2.0
    ) -> Instruction:
        """GET until every callee's result is final (or the instruction is); TimeoutError
        after `timeout` seconds (the last view is in its args)."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.get(instruction_id)
            if view.is_final:
                return view
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{instruction_id} not final after {timeout} s", view)
            self._sleep(poll_interval)

    def cancel(self, instruction_id: str) -> Instruction:
        """DELETE /v1/dtmf-calls/{instruction-id}: cancel every callee not ringing yet;
        idempotent. NotFound as for `get`."""
        return Instruction.model_validate(self._request("DELETE", _path(instruction_id)).json())

    def list(
        self,
        *,
        status: str | None = None,
        outcome: str | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> InstructionPage:
        """GET /v1/dtmf-calls: one page of the caller's instructions, newest first
        (`created-from` inclusive, `created-to` exclusive, RFC 3339). InvalidRequest for a
        bad query value (`errors[].field` = the parameter)."""
        params = {
            "status": status,
            "outcome": outcome,
            "created-from": created_from,
            "created-to": created_to,
            "limit": None if limit is None else str(limit),
            "next-token": next_token,
        }
        query = {k: v for k, v in params.items() if v is not None}
        return InstructionPage.model_validate(
            self._request("GET", "/dtmf-calls", params=query).json()
        )

    def iter_instructions(self, **filters: Any) -> Iterator[Instruction]:
        """Every instruction matching `filters` (as `list`), page after page."""
        token: str | None = None
        while True:
            page = self.list(**filters, next_token=token)
            yield from page.items
            token = page.next_token
            if not token:
                return

    # ------------------------------------------------------------------ transport
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.request(method, f"{self._base}{path}", **kwargs)
            except (httpx.TransportError, httpx.TimeoutException):
                if attempt >= self._max_retries:
                    raise
                self._sleep(self._backoff * 2**attempt)
                attempt += 1
                continue
            if response.is_success:
                return response
            error = error_of(response)
            if attempt >= self._max_retries or not _retryable(error):
                raise error
            if error.retry_after is not None and error.retry_after > self._max_retry_wait:
                raise error
            self._sleep(
                error.retry_after if error.retry_after is not None else self._backoff * 2**attempt
            )
            attempt += 1


def _retryable(error: DtmfGatewayError) -> bool:
    if error.status == 409:
        return error.type == _IN_FLIGHT
    if error.status == 429 and error.type == _POLICY_REFUSED:
        return False
    return error.status in _RETRIED_STATUSES


def _path(instruction_id: str) -> str:
    # An empty id or one of only dots would be resolved by the URL into another route
    # (`..` → `/v1`, `.` or `` → the list route); no valid id looks like that.
    if not instruction_id.strip("."):
        raise ValueError(f"not a valid instruction-id: {instruction_id!r}")
    return f"/dtmf-calls/{quote(instruction_id, safe='')}"
