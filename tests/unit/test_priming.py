"""SnapStart priming (`dtmf_gateway.priming`): the first request's one-off work is done in the
before-snapshot hook, without a request leaving the process and without reading a secret."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.endpoint import Endpoint
from moto.core.botocore_stubber import BotocoreStubber

from devtools.lambdas import load_function
from dtmf_gateway import priming, snapstart, wiring
from tests.conftest import _reset_caches


@contextlib.contextmanager
def offline() -> Iterator[list[str]]:
    """Every way out of the process (botocore's send, httpx's transports) and every secret
    read fails the test; yields what was attempted. moto steps aside (answers nothing), as
    in Lambda, where nothing but botocore's own send answers a request."""
    attempts: list[str] = []

    def refuse(what: str) -> Callable[..., Any]:
        def refused(*_: Any, **__: Any) -> Any:
            attempts.append(what)
            raise AssertionError(f"priming reached {what}")

        return refused

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BotocoreStubber, "__call__", lambda *_, **__: None)
        patch.setattr(Endpoint, "_send", refuse("the network (AWS)"))
        patch.setattr(httpx.HTTPTransport, "handle_request", refuse("the network (httpx)"))
        patch.setattr(
            httpx.AsyncHTTPTransport, "handle_async_request", refuse("the network (httpx)")
        )
        patch.setattr(SecretsProvider, "_get", refuse("a secret"))
        yield attempts


def _primers() -> list[Callable[..., None]]:
    """The registered primers, the functions behind `functools.partial`s."""
    return [getattr(primer, "func", primer) for primer in snapstart._prime]


def test_place_call_registers_its_primer_in_a_snapstart_init_only(
    runtime: dict[str, list[Callable[[], None]]], function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_function("place_call")
    assert _primers() == [priming.api_event, priming.place_call]

    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    monkeypatch.setattr(snapstart, "_installed", [])
    monkeypatch.setattr(snapstart, "_prime", [])
    _reset_caches()
    load_function("place_call")
    assert snapstart._prime == []


@pytest.mark.parametrize(
    ("folder", "primer"), [("place_call", priming.place_call), ("cm_callback", priming.cm_callback)]
)
def test_priming_sends_nothing_and_reads_no_secret(
    folder: str,
    primer: Callable[[], None],
    runtime: dict[str, list[Callable[[], None]]],
    function_env: Any,
) -> None:
    load_function(folder)
    assert _primers()[-1] == primer

    with offline() as attempts:
        for registered in snapstart._prime:
            registered()  # raises if anything leaves the process or reads a secret

    assert attempts == []
    assert function_env.dynamodb.scan(TableName="calls")["Count"] == 0
    # the function's own client answers from AWS again (no canned answer left behind)
    with pytest.raises(Exception, match="ResourceNotFoundException"):
        wiring.dynamodb().get_item(TableName="priming", Key={"pk": {"S": "priming"}})


def test_the_before_snapshot_hook_primes_then_forgets(
    runtime: dict[str, list[Callable[[], None]]], function_env: Any
) -> None:
    app = load_function("place_call")
    [before] = runtime["before"]
    cm = app.placement._service._cm

    with offline() as attempts:
        before()

    assert attempts == []
    assert getattr(cm._local, "loop", None) is None  # the CM client holds no loop


def test_a_failing_primer_leaves_the_snapshot_right(
    runtime: dict[str, list[Callable[[], None]]], function_env: Any
) -> None:
    load_function("place_call")
    secrets = wiring.managed_secrets()
    secrets.product_token()  # a secret cached in memory (as if init had read it)

    def broken() -> None:
        raise RuntimeError("primer failed")

    snapstart._prime.insert(0, broken)
    [before] = runtime["before"]
    before()  # does not raise: priming only saves time

    assert secrets._provider.store == {}  # the forgetting still ran


@pytest.mark.parametrize("folder", ["place_call", "cm_callback"])
def test_priming_names_the_functions_own_tables(
    folder: str, runtime: dict[str, list[Callable[[], None]]], function_env: Any
) -> None:
    """botocore resolves a DynamoDB endpoint per table name (its account-id endpoint rules
    take the table as the resource): a primer naming another table leaves that work, a
    ruleset walk per table, to the first request."""
    from dtmf_gateway.settings import settings

    load_function(folder)
    primer = snapstart._prime[-1]
    named: list[str] = []
    events = wiring.dynamodb().meta.events
    events.register(
        "provide-client-params.dynamodb", lambda params, **_: named.append(params["TableName"])
    )

    with offline():
        primer()

    s = settings()
    own = {s.table_name, s.campaigns_table_name} if folder == "place_call" else {s.table_name}
    assert set(named) == own - {""}
