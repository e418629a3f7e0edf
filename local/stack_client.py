"""A small client for the running local stack (reads .local/stack.json): signed API calls,
the CM simulator's scripting API, and the DTMF Result events the bus delivered.

Used by the demo (scripts/demo.py) and the end-to-end tests; handy in a REPL too:

    >>> from stack_client import LocalStack
    >>> stack = LocalStack.load()
    >>> stack.api("POST", "/v1/dtmf-calls", {...}).json()
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parents[1]
STACK_FILE = Path(os.environ.get("DTMF_LOCAL_DIR", ROOT / ".local")) / "stack.json"
# The emulator's root key. The local stack runs with IAM enforced (AUTH=true), but ministack
# does not check the root key's secret (its issue #1745) and lets it do anything: the tests
# that prove signatures and policies use IAM users of their own (tests/e2e/test_iam.py).
CREDENTIALS = Credentials("test", "test")

# The settings of a four-digit PIN (ending in `#`) that the CM simulator, unscripted, answers
# validly (it types the first 4 digits of 1234567890...): the load runs' instruction body, to
# which each adds its caller, prompt and metadata. Field names as in architecture.md.
PIN_DIALOGUE: dict[str, Any] = {
    "valid-prompt": "Thank you.",
    "min-digits": 4,
    "max-digits": 4,
    "max-attempts": 1,
    "timeout": 3000,
    "max-ringing-timeout": 20,
    "terminators": "#",
    "regex": "[0-9]{4}",
}


@dataclass
class LocalStack:
    api_url: str
    cm_simulator_url: str
    aws_endpoint_url: str
    region: str
    stack_name: str
    event_bus_name: str
    table_name: str
    # CM is the stack's own sandbox Lambda (`local_stack.py up --sandbox`): its /_simulator
    # routes are SigV4-signed like the API's
    sandbox: bool = False
    # signed webhooks (issue 18): the signing secret and the DLQ of failed deliveries
    webhook_secret_arn: str = ""
    webhook_dlq_url: str = ""
    campaign_bucket: str = ""  # the stack's campaign bucket (callee lists, errors, results)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @classmethod
    def load(cls, path: Path = STACK_FILE) -> LocalStack:
        if not path.exists():
            raise SystemExit(f"{path} not found: start the local stack with `make local-up`")
        data = json.loads(path.read_text())
        return cls(**{key.replace("-", "_"): value for key, value in data.items()})

    # ------------------------------------------------------------------ the API
    def _send(
        self,
        method: str,
        url: str,
        content: str | None,
        headers: dict[str, str],
        credentials: Credentials | None,
    ) -> httpx.Response:
        """One request, SigV4-signed (service execute-api) with `credentials` when given."""
        if credentials is not None:
            request = AWSRequest(method=method, url=url, data=content, headers=headers)
            SigV4Auth(credentials, "execute-api", self.region).add_auth(request)
            headers = dict(request.headers)
        return self.http.request(method, url, content=content, headers=headers)

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        sign: bool = True,
        raw: str | None = None,
        credentials: Credentials = CREDENTIALS,
    ) -> httpx.Response:
        """Call the API, SigV4-signed (service execute-api) with `credentials` unless not `sign`."""
        url = f"{self.api_url}{path}"
        content = raw if raw is not None else (json.dumps(body) if body is not None else None)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return self._send(method, url, content, all_headers, credentials if sign else None)

    def wait_for_instruction(
        self,
        instruction_id: str,
        status: str = "finished",
        timeout: float = 30,
        credentials: Credentials = CREDENTIALS,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.api("GET", f"/v1/dtmf-calls/{instruction_id}", credentials=credentials)
            view: dict[str, Any] = response.json()
            if response.status_code == 200 and view["status"] == status:
                return view
            if time.monotonic() > deadline:
                raise TimeoutError(f"instruction {instruction_id} is {view.get('status')}")
            time.sleep(0.2)

    # ------------------------------------------------------------------ the CM simulator
    def simulator(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        """A request to the simulator's scripting API (`/_simulator...`), signed when the
        simulator is the stack's sandbox."""
        url = str(httpx.URL(f"{self.cm_simulator_url}{path}", params=params or {}))
        content = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        return self._send(method, url, content, headers, CREDENTIALS if self.sandbox else None)

    def script_callee(self, number: str, **script: Any) -> None:
        """Script ``number`` (E.164) in the simulator. Keys as the scripting API names them or
        as Python keyword names (``reply_delay_seconds`` is ``reply-delay-seconds``, as for
        ``Simulator.script_callee``); nested objects (``per-call`` entries, ``callback-extra``)
        are sent as given. Raises httpx.HTTPStatusError when the simulator refuses it (400)."""
        body = {key.replace("_", "-"): value for key, value in script.items()}
        self.simulator("PUT", f"/_simulator/callees/{number}", body).raise_for_status()

    def simulator_calls(self, **filters: str) -> list[dict[str, Any]]:
        response = self.simulator("GET", "/_simulator/calls", params=filters)
        response.raise_for_status()
        calls: list[dict[str, Any]] = response.json()
        return calls

    def simulator_settings(self, **settings: Any) -> None:
        self.simulator("PUT", "/_simulator/settings", settings).raise_for_status()

    def reset_simulator(self) -> None:
        self.simulator("DELETE", "/_simulator").raise_for_status()

    # ------------------------------------------------------------------ AWS side
    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint_url,
            region_name=self.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def outputs(self) -> dict[str, str]:
        stack = self.client("cloudformation").describe_stacks(StackName=self.stack_name)
        return {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0].get("Outputs", [])}

    def function_name(self, logical_id: str) -> str:
        """The deployed name of one of the template's functions (`PublishResultsFunction`)."""
        found = self.client("cloudformation").describe_stack_resource(
            StackName=self.stack_name, LogicalResourceId=logical_id
        )
        return str(found["StackResourceDetail"]["PhysicalResourceId"])

    def invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke a function directly (as its schedule or event source would) and return what
        it returned; a function error raises. It runs as its execution role, as in Lambda."""
        response = self.client("lambda").invoke(
            FunctionName=self.function_name(logical_id), Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise RuntimeError(f"{logical_id} failed: {payload}")
        result: dict[str, Any] = payload
        return result

    def function_logs(self, since_ms: int = 0) -> dict[str, list[str]]:
        """Every line each function logged (its log group → messages), as `make local` shows."""
        logs = self.client("logs")
        found: dict[str, list[str]] = {}
        for page in logs.get_paginator("describe_log_groups").paginate():
            for group in page["logGroups"]:
                name = group["logGroupName"]
                if not name.startswith((f"/{self.stack_name}/", "/aws/lambda/")):
                    continue
                lines = found.setdefault(name, [])
                kwargs: dict[str, Any] = {"logGroupName": name, "startTime": since_ms}
                while True:
                    batch = logs.filter_log_events(**kwargs)
                    lines.extend(e["message"] for e in batch.get("events", []))
                    if not batch.get("nextToken"):
                        break
                    kwargs["nextToken"] = batch["nextToken"]
        return found

    def events(
        self, wait: float = 0, output: str = "LocalEventCaptureQueueUrl"
    ) -> list[dict[str, Any]]:
        """DTMF Result events the bus routed to the local capture queue since the last call
        (``output="LocalCampaignEventCaptureQueueUrl"``: the campaign events)."""
        url = self.outputs()[output].replace("//localhost:", "//127.0.0.1:")
        sqs = self.client("sqs")
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not messages and time.monotonic() >= deadline:
                return found
            if not messages:
                time.sleep(0.2)
