"""CM Voice API client (`POST {base}/voiceapi/v2/DTMF`) over httpx.

The whole exchange has a hard wall-clock deadline (see HttpCmClient). Retries only where the
request surely did not reach CM: connection failures, and 429/503
answers (honouring Retry-After). Anything ambiguous — a read timeout, a dropped connection,
another 5xx, a 2xx we cannot read — is reported as CmOutcomeUnknown and never retried, so a
person is never rung twice.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import json
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from dtmf_gateway.domain.calls import CmQueuedCall
from dtmf_gateway.domain.digits import anchored
from dtmf_gateway.domain.errors import CmOutcomeUnknown, CmRejected, CmUnreachable

if TYPE_CHECKING:
    from dtmf_gateway.domain.request import DtmfCallRequest

if TYPE_CHECKING:
    from dtmf_gateway.domain.request import DtmfCallRequest, Voice

DTMF_PATH = "/voiceapi/v2/DTMF"
_RETRYABLE_STATUS = frozenset({429, 503})
_MAX_REASON = 300
#: The longest call id we can use: what the callback route takes (`CmCallback.call_id`,
#: max_length 64; a test keeps the two equal). CM documents its call ids as GUIDs (36
#: characters); a longer one could never be called back, nor keyed in DynamoDB past 1 KB.
MAX_CALL_ID = 64


class _CallQueued(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: str | None = None
    call_id: str | None = Field(default=None, alias="call-id")
    callee: str | None = None
    success: bool = True
    error: str | None = None


_REPLY = TypeAdapter(list[_CallQueued] | _CallQueued)


def _voice(voice: Voice) -> dict[str, object]:
    return {
        "language": voice.language,
        "gender": voice.gender.value,
        "number": voice.number,
        "volume": voice.volume,
        "premium": voice.premium,
    }


def to_cm_payload(
    request: DtmfCallRequest, *, instruction_id: str, callback_url: str
) -> dict[str, Any]:
    """CM's wire body for ``request`` (``docs/cm-dtmf-contract.md`` §1): kebab-case keys,
    enum names, every default explicit, ``callee`` for one number else ``callees`` (E.164),
    ``disable-callees-validation`` always false, ``regex`` anchored (``digits.anchored``), the
    service's ``callback-url``, no
    ``metadata`` (it is the gateway's own, never sent to CM)."""
    numbers = request.all_callees()
    payload: dict[str, Any] = {"instruction-id": instruction_id}
    if len(numbers) == 1:
        payload["callee"] = numbers[0]
    else:
        payload["callees"] = numbers
    payload.update(
        {
            "caller": request.caller.e164,
            "anonymous": request.anonymous,
            "disable-callees-validation": False,
            "callback-url": callback_url,
            "max-ringing-timeout": request.max_ringing_timeout,
            "prompt": request.prompt,
            "prompt-type": request.prompt_type.value,
        }
    )
    payload["valid-prompt"] = request.valid_prompt
    payload["valid-prompt-type"] = request.valid_prompt_type.value
    if request.invalid_prompt is not None:
        payload["invalid-prompt"] = request.invalid_prompt
    payload.update(
        {
            "invalid-prompt-type": request.invalid_prompt_type.value,
            "min-digits": request.min_digits,
            "max-digits": request.max_digits,
            "max-attempts": request.max_attempts,
            "timeout": request.timeout,
            "terminators": request.terminators,
            "regex": anchored(request.regex),
            "voice": _voice(request.voice),
        }
    )
    return payload


class HttpCmClient:
    """`CmApi` over httpx, with a hard wall-clock deadline for the whole exchange.

    httpx's timeouts apply per network operation: a CM that drips its reply a byte at a time
    never trips them. The exchange therefore runs as one asyncio task cancelled at the
    deadline (``asyncio.timeout``), which closes the connection wherever it is — connecting,
    sending, waiting for headers or reading a body. Each thread keeps its own event loop and
    async client, so connections are reused across invocations of one execution environment.

    The TLS context (CA certificates only: no connection, session or key) is made once per
    process and shared by every thread's client and every client made after
    `forget_connections`.
    """

    def __init__(
        self,
        *,
        base_url: str,
        product_token: Callable[[], str],
        connect_timeout: float = 2.0,
        total_timeout: float = 8.0,
        max_retries: int = 2,
        max_retry_wait: float = 2.0,
        min_budget: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = base_url.rstrip("/") + DTMF_PATH
        self._product_token = product_token
        self._connect = connect_timeout
        self._total = total_timeout
        self._max_retries = max_retries
        self._max_retry_wait = max_retry_wait
        self._min_budget = min_budget
        self._transport = transport
        self._sleep = sleep
        self._local = threading.local()

    def prepare(self) -> None:
        """Do now, at init, the one-off work of the first placement: import httpx's transport
        (httpcore, ~25 ms of CPU) and parse the CA bundle into the TLS context (~22 ms); the
        event loop and client, ~0.5 ms once these exist, are made on first use, so init opens
        no file descriptor and no connection."""
        importlib.import_module("httpcore")  # what httpx imports on its first client
        _tls_context()

    def _loop_and_client(self) -> tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]:
        local = self._local
        if getattr(local, "loop", None) is None:
            local.loop = asyncio.new_event_loop()
            local.client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._total, connect=self._connect),
                transport=self._transport,
                verify=_tls_context() if self._transport is None else True,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            )
        return local.loop, local.client

    def forget_connections(self) -> None:
        """Close this thread's client and event loop, if any (made again on next use, from the
        kept TLS context: ~0.5 ms): before a SnapStart snapshot, so that no connection, pool or
        loop is frozen into it."""
        local = self._local
        loop, client = getattr(local, "loop", None), getattr(local, "client", None)
        local.loop = local.client = None
        if loop is not None and client is not None:
            loop.run_until_complete(client.aclose())
            loop.close()

    def place(
        self,
        request: DtmfCallRequest,
        *,
        instruction_id: str,
        callback_url: str,
        time_budget_seconds: float | None = None,
    ) -> list[CmQueuedCall]:
        """`CmApi.place`: the instruction in CM's wire format, POSTed once (retried only when
        it surely did not reach CM), all within min(total_timeout, time_budget_seconds)
        seconds of wall-clock time. A budget under ``min_budget`` seconds is not spent at
        all: CmUnreachable (nothing was sent, a retry is safe)."""
        budget = self._total
        if time_budget_seconds is not None:
            budget = min(budget, time_budget_seconds)
        if budget < self._min_budget:
            raise CmUnreachable(f"too little time left to call CM ({budget:.1f} s)")
        payload = to_cm_payload(request, instruction_id=instruction_id, callback_url=callback_url)
        body = json.dumps(payload, separators=(",", ":"))
        headers = {"X-CM-PRODUCTTOKEN": self._product_token()}
        loop, client = self._loop_and_client()
        return loop.run_until_complete(self._within(budget, client, body, headers))

    async def _within(
        self, budget: float, client: httpx.AsyncClient, body: str, headers: dict[str, str]
    ) -> list[CmQueuedCall]:
        try:
            async with asyncio.timeout(budget):
                return await self._exchange(client, body, headers, time.monotonic() + budget)
        except TimeoutError as error:
            raise CmOutcomeUnknown(
                f"CM did not answer within {budget:.1f} s", timed_out=True
            ) from error

    async def _exchange(
        self, client: httpx.AsyncClient, body: str, headers: dict[str, str], deadline: float
    ) -> list[CmQueuedCall]:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await client.post(self._url, content=body, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                if attempt <= self._max_retries and deadline - time.monotonic() > 1:
                    continue
                raise CmUnreachable(f"CM could not be reached ({type(error).__name__})") from error
            except httpx.TimeoutException as error:
                raise CmOutcomeUnknown("CM did not answer in time", timed_out=True) from error
            except httpx.HTTPError as error:
                raise CmOutcomeUnknown(
                    f"the connection to CM failed mid-request ({type(error).__name__})",
                    timed_out=False,
                ) from error

            if response.status_code in _RETRYABLE_STATUS:
                wait = _retry_after(response)
                if (
                    attempt <= self._max_retries
                    and wait <= self._max_retry_wait
                    and deadline - time.monotonic() > wait + 1
                ):
                    self._sleep(wait)
                    continue
                raise CmRejected(
                    f"CM is busy (HTTP {response.status_code}): {_reason(response)}",
                    response.status_code,
                )
            return _interpret(response)


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs, hostnames verified; SSL_CERT_FILE honoured),
    made once per process: it holds CA certificates only."""
    return httpx.create_ssl_context()


def _interpret(response: httpx.Response) -> list[CmQueuedCall]:
    status = response.status_code
    if status == 401:
        raise CmRejected("CM refused the product token (HTTP 401)", status)
    if 400 <= status < 500:
        raise CmRejected(f"CM refused the instruction (HTTP {status}): {_reason(response)}", status)
    if status >= 500 or not 200 <= status < 300:
        raise CmOutcomeUnknown(f"CM answered HTTP {status}: {_reason(response)}", timed_out=False)
    try:
        parsed = _REPLY.validate_json(response.content)
    except ValidationError as error:
        raise CmOutcomeUnknown(
            "CM accepted the request but its reply could not be read", timed_out=False
        ) from error
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items or any(item.success and not item.call_id for item in items):
        # CM accepted the instruction: a reply that names no call for a callee it queued is
        # not a refusal — the calls may ring. Never "nothing placed" (a retry would ring twice).
        raise CmOutcomeUnknown(
            "CM accepted the request but its reply names no call id", timed_out=False
        )
    if any(item.call_id and not _usable_call_id(item.call_id) for item in items):
        # as broken as no call id: its callback could never be taken, nor its call recorded
        raise CmOutcomeUnknown(
            "CM accepted the request but its reply names a call id we cannot use "
            f"(over {MAX_CALL_ID} characters, blank, or not printable)",
            timed_out=False,
        )
    return [
        CmQueuedCall(
            call_id=item.call_id.lower() if item.call_id else None,
            callee=item.callee,
            success=item.success,
            # CM's text, bounded as its reasons are (_MAX_REASON characters): the 202, the
            # instruction's replies and a deferred recording (SQS: 256 KiB) always fit
            error=item.error[:_MAX_REASON] if item.error is not None else None,
        )
        for item in items
    ]


def _usable_call_id(call_id: str) -> bool:
    """A call id the callback route takes (1..MAX_CALL_ID characters) that names something:
    not blank, no control characters (it is logged, keyed and echoed back)."""
    return len(call_id) <= MAX_CALL_ID and bool(call_id.strip()) and call_id.isprintable()


_DEFAULT_RETRY_WAIT = 0.5


def _retry_after(response: httpx.Response) -> float:
    """Seconds CM asks us to wait (delta-seconds or an HTTP date); a short pause if unsaid."""
    value = response.headers.get("Retry-After")
    if not value:
        return _DEFAULT_RETRY_WAIT
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return _DEFAULT_RETRY_WAIT
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds)


def _reason(response: httpx.Response) -> str:
    """CM's error bodies are undocumented: take a message field if there is one, else text."""
    text = response.text.strip()
    try:
        data: Any = response.json()
    except ValueError:
        return text[:_MAX_REASON] or "no reason given"
    if isinstance(data, dict):
        for key in ("message", "title", "error", "details"):
            if isinstance(data.get(key), str) and data[key]:
                reason = str(data[key])
                errors = data.get("errors")
                if isinstance(errors, dict) and errors:
                    fields = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in errors.items())
                    reason = f"{reason} {fields}"
                return reason[:_MAX_REASON]
        messages = data.get("messages")
        if isinstance(messages, list) and messages:
            return "; ".join(map(str, messages))[:_MAX_REASON]
    return text[:_MAX_REASON] or "no reason given"
