"""Lambda entry of the CM sandbox (``CmSandbox=true``): API Gateway requests to
``POST /voiceapi/v2/DTMF`` and ``/_simulator/...`` (answered by ``cm_simulator.core``), and
the delivery queue's messages (callbacks that are due).

Environment: CM_SANDBOX_TABLE_NAME, CM_SANDBOX_QUEUE_URL, CM_PRODUCT_TOKEN_SECRET (the
stack's CM token secret: the sandbox accepts exactly the token the stack sends),
CM_SANDBOX_TIME_SCALE (real seconds per simulated second, default 0.002),
CM_SANDBOX_CALLBACK_BASE_PARAMETER (the SSM parameter holding the stack's callback base URL,
PlaceCallFunction's CALLBACK_BASE_URL: the sandbox calls back nowhere else — never the Lambda
runtime API, link-local or private addresses a request might name).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import boto3
import httpx

from cm_sandbox.sandbox import DeliveryQueue, ProductToken, Sandbox, SandboxState
from cm_simulator.core import (
    DTMF_PATH,
    Answer,
    RunSettings,
    check_dtmf_request,
    is_simulator_path,
    not_allowed,
    problem,
    simulator_api,
)
from cm_simulator.delivery import DeliveryMode
from cm_simulator.regex_guard import RegexGuard
from cm_simulator.validation import DEFAULT_MAX_CALLEES

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

logger = logging.getLogger("cm_simulator")
logger.setLevel(logging.INFO)

#: API Gateway answers within 29 s: a scripted reply delay is cut to this.
MAX_REPLY_DELAY_SECONDS = 20.0


def _config(name: str, default: str = "") -> str:
    value = os.environ.get(name, default).strip()
    if not value:
        raise RuntimeError(f"environment variable {name} must be set")
    return value


_initial = RunSettings(
    time_scale=float(_config("CM_SANDBOX_TIME_SCALE", "0.002")),
    callback_retries=3,
    delivery=DeliveryMode.NORMAL,
    retry_backoff_ms=1000,
)
product_token = ProductToken(boto3.client("secretsmanager"), _config("CM_PRODUCT_TOKEN_SECRET"))
regex = RegexGuard(1.0)  # a helper process, so a catastrophic pattern cannot hang the function
sandbox = Sandbox(
    SandboxState(boto3.client("dynamodb"), _config("CM_SANDBOX_TABLE_NAME"), _initial, time.time),
    DeliveryQueue(boto3.client("sqs"), _config("CM_SANDBOX_QUEUE_URL")),
    httpx.Client(timeout=10.0, trust_env=False, follow_redirects=False),
    regex.fullmatch,
    max_callees=DEFAULT_MAX_CALLEES,
)


class CallbackBase:
    """The stack's callback base URL, read once from SSM on the first instruction.

    A parameter rather than an environment variable: the function cannot name the stack's
    HTTP API itself (Api -> PlaceCallFunction -> CmSandboxApi -> CmSandboxFunction would be a
    dependency cycle in the template)."""

    def __init__(self, client: SSMClient, name: str) -> None:
        self._client = client
        self._name = name
        self._base: str | None = None

    def allows(self, url: str | None) -> bool:
        """True for no URL (CM then makes no callback) and for a URL under the base."""
        if url is None:
            return True
        if self._base is None:
            value = self._client.get_parameter(Name=self._name)["Parameter"]["Value"]
            self._base = str(value).rstrip("/") + "/"
        return url.startswith(self._base)


callback_base = CallbackBase(boto3.client("ssm"), _config("CM_SANDBOX_CALLBACK_BASE_PARAMETER"))


def _http(answer: Answer) -> dict[str, Any]:
    headers = dict(answer.headers)
    if answer.body is not None:
        headers["Content-Type"] = answer.content_type
    return {"statusCode": int(answer.status), "headers": headers, "body": answer.encoded().decode()}


def _request(event: dict[str, Any]) -> dict[str, Any]:
    method = event.get("httpMethod", "GET")
    path = event.get("path") or "/"
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    query = urlencode(event.get("queryStringParameters") or {}, quote_via=quote)
    if path.rstrip("/").lower() == DTMF_PATH:
        if method != "POST":
            return _http(not_allowed({"POST"}))
        parsed = check_dtmf_request(
            authorized=product_token.matches(headers.get("x-cm-producttoken")),
            content_type=headers.get("content-type"),
            raw=raw,
            max_callees=sandbox.max_callees,
        )
        if isinstance(parsed, Answer):
            logger.info("request refused (%d)", parsed.status)
            return _http(parsed)
        if not callback_base.allows(parsed.callback_url):
            logger.info("request refused (400): callback-url outside the stack's callback base")
            refused = "The sandbox calls back only the stack's own callback URL."
            return _http(problem(400, {"callback-url": [refused]}))
        queued = sandbox.queue_instruction(parsed)
        if queued.delay_seconds:
            time.sleep(min(queued.delay_seconds, MAX_REPLY_DELAY_SECONDS))
        logger.info("instruction %s: %d call(s) queued", parsed.instruction_id, len(queued.reply))
        return _http(Answer(200, queued.reply))
    if is_simulator_path(path):
        return _http(simulator_api(sandbox, method, path, query, raw))
    return _http(
        problem(404, title="Not Found (the sandbox serves POST /voiceapi/v2/DTMF and /_simulator)")
    )


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    if "Records" in event:  # the delivery queue
        for record in event["Records"]:
            sandbox.deliver(json.loads(record["body"]))
        return {}
    return _request(event)
