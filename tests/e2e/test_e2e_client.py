"""The typed client (clients/python/dtmf-gateway-client) against the deployed local stack, and
the README's "Python client" example run as written. `cancel` and `list` are unit-tested
against the contract (tests/clients/test_client.py): their routes are not on this stack yet."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from botocore.credentials import Credentials
from stack_client import LocalStack

from dtmf_gateway_client import DtmfGatewayClient, InvalidRequest, NotFound
from tests.e2e.test_e2e import instruction

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def client(stack: LocalStack) -> DtmfGatewayClient:
    return DtmfGatewayClient(stack.api_url, stack.region, Credentials("test", "test"))


def test_place_wait_and_get_through_the_client(
    stack: LocalStack, client: DtmfGatewayClient, new_id: str
) -> None:
    callee = "+31612345701"
    stack.script_callee(callee, pickup="answer", keys=["2468#"])

    placed = client.place(instruction(new_id, callee=callee), idempotency_key=new_id)
    again = client.place(instruction(new_id, callee=callee), idempotency_key=new_id)
    done = client.wait(placed.instruction_id, timeout=60, poll_interval=0.5)

    assert placed.instruction_id == new_id
    assert not placed.replayed
    assert again.replayed  # the same key: the original answer, no second call
    assert again.calls[0].call_id == placed.calls[0].call_id
    assert len(stack.simulator_calls(**{"instruction-id": new_id})) == 1
    assert done.status == "finished"
    assert (done.calls[0].outcome, done.calls[0].digits) == ("input-received", "2468")
    assert client.get(new_id).calls[0].digits == "2468"


def test_problems_come_back_typed(client: DtmfGatewayClient, new_id: str) -> None:
    with pytest.raises(InvalidRequest) as invalid:
        client.place(
            instruction(
                new_id,
                callee="+31612345702",
                **{"max-digits": 99, "webhook-url": "https://x.example/"},
            )
        )
    with pytest.raises(NotFound) as unknown:
        client.get(f"{new_id}-unknown")

    assert invalid.value.status == 422
    assert invalid.value.type == "invalid-request"
    assert {e.field for e in invalid.value.errors} == {"max-digits", "webhook-url"}
    assert unknown.value.status == 404


def test_the_readme_client_example_runs_as_written(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = README.read_text().split("### Python client", 1)[1]
    [example] = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.DOTALL)
    stack.script_callee("+31612345678", pickup="answer", keys=["4821#"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    printed = io.StringIO()

    with contextlib.redirect_stdout(printed):
        exec(example, {"api_url": stack.api_url, "region": stack.region})  # noqa: S102

    assert printed.getvalue().splitlines() == [
        "+31612345678 input-received 4821",
        "invalid-request ['min-digits', 'webhook-url']",
    ]
