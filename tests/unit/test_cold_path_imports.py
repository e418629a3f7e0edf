"""What a function's cold start loads: each module a function's first request never uses is
left for the request that needs it (issue 15, "lean cold path"). A fresh interpreter loads the
handler module as Lambda does (its folder and the layer's source on the path, the template's
environment, AWS pointed at a dead loopback port) and reports what it imported, so a later
change that pulls one of these modules back into the cold start fails here.

Leaving a module out of init is a gain only if the first request does not load it instead:
another fresh interpreter loads place-call on the bench's stubbed network (moto for AWS,
devtools' FakeCm for CM: `bench.world`) and places the bench's keyed sample request, and the
product's modules of the list must still be absent after its 202."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.common import (
    FUNCTIONS_DIR,
    LOOPBACK_ENDPOINT,
    ROOT,
    function_environment,
    lambda_runtime_environment,
)

#: Never used by an immediate placement of POST /v1/dtmf-calls: the campaign machinery (its
#: use cases, ports, rows, events and CSV parsing: only `PlaceRow` places through the same use
#: case); the ports module (a scheduled placement's dials load it); the erasure (a placement
#: that meets an erasure loads it); the webhook delivery (place-call checks a `webhook-url`
#: against `domain.webhook_targets` only); the expirer's module (a placement needs only its
#: grace, `calls.CALLBACK_GRACE`); the records as read back (`domain.stored`: a placement
#: writes, never reads back); the replay of a keyed retry (`domain.placement_replay`: a
#: placement binds its key with `domain.key_binding` and loads the replay only when its
#: reservation meets an instruction); the read routes' views (`api.read_models`, `api.views`);
#: the deferral of a recording that failed (its SQS adapter); the SSML check and its XML
#: parser (a TTS_SSML prompt loads them); the SnapStart primers (a SnapStart init loads them);
#: the Scheduler adapter (a placement that schedules a dial builds it and its client).
NOT_AT_PLACE_CALL_INIT = (
    "dtmf_gateway.domain.campaign_use_cases",
    "dtmf_gateway.domain.campaign_ports",
    "dtmf_gateway.domain.campaigns",
    "dtmf_gateway.domain.campaign_events",
    "dtmf_gateway.domain.campaign_results",
    "dtmf_gateway.domain.campaign_taken_rows",
    "dtmf_gateway.domain.not_placed",
    "dtmf_gateway.campaign_parts",
    "csv",
    "dtmf_gateway.domain.ports",
    "dtmf_gateway.domain.erasure",
    "dtmf_gateway.domain.reading",
    "dtmf_gateway.adapters.dynamodb.erasure_store",
    "dtmf_gateway.domain.webhooks",
    "dtmf_gateway.domain.expiry",
    "dtmf_gateway.domain.stored",
    "dtmf_gateway.domain.placement_replay",
    "dtmf_gateway.api.read_models",
    "dtmf_gateway.api.views",
    # issue 15: a recording that could not be written is deferred by the first placement
    # that needs it (its SQS adapter and client are built then)
    "dtmf_gateway.adapters.placement_recordings",
    "dtmf_gateway.domain.placement_recording",
    # issue 15: a plain TTS placement checks no SSML; only a SnapStart init primes
    "dtmf_gateway.domain.ssml",
    "xml.parsers.expat",
    "dtmf_gateway.priming",
    # issue 15: only a placement that schedules a dial builds the Scheduler adapter and client
    "dtmf_gateway.adapters.scheduler",
)


def _last_json_line(stdout: str) -> object:
    return json.loads(stdout.strip().splitlines()[-1])


def modules_at_init(folder: str) -> set[str]:
    """The modules a fresh interpreter holds once functions/<folder>/app.py has loaded."""
    code = "import json, sys; import app; print(json.dumps(sorted(sys.modules)))"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL": LOOPBACK_ENDPOINT,
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS_DIR / folder), str(ROOT / "layers/shared")]),
        **lambda_runtime_environment(folder),
        **function_environment(folder),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


#: A fresh place-call on the bench's stubbed network, its first request the bench's keyed
#: sample placement (explicit `instruction-id`, `Idempotency-Key`, a digits `regex`); prints
#: the modules loaded once it answered 202.
_FIRST_PLACEMENT = """
import json, sys
from bench.world import (
    NetworkClock, aws, callee, check, context, create_world, load, place_event, set_environment,
)
with aws():
    world = create_world()
    set_environment(world.names, ("place_call",))
    NetworkClock().install()
    module = load("place_call")
    event = place_event("cold-path-first", key="cold-path-first-key", number=callee(1))
    check("first placement", module.handler(event, context("place_call")), 202)
print(json.dumps(sorted(sys.modules)))
"""


@pytest.fixture(scope="module")
def place_call_modules_after_first_placement() -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "layers/shared"), str(ROOT / "local"), str(ROOT)]
    )
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_PLACEMENT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(_last_json_line(done.stdout))  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def place_call_modules() -> set[str]:
    return modules_at_init("place_call")


def test_place_call_loads_its_placement_path(place_call_modules: set[str]) -> None:
    """The probe sees what it should: the placement use case and the stack's pacing."""
    assert {"dtmf_gateway.domain.placement", "dtmf_gateway.domain.stack_pacing"} <= (
        place_call_modules
    )


@pytest.mark.parametrize("module", NOT_AT_PLACE_CALL_INIT)
def test_place_call_does_not_load_at_init(place_call_modules: set[str], module: str) -> None:
    assert module not in place_call_modules


def test_place_call_loads_the_time_zone_table_at_init(place_call_modules: set[str]) -> None:
    """Under the stack's quiet hours every placement looks up its callees' time zones: init
    loads libphonenumber's prefix-to-zone table, so the first placement does not (it is the
    same dependency import either way: `bench.cold`'s floor imports it too)."""
    assert {"phonenumbers.timezone", "phonenumbers.tzdata"} <= place_call_modules


def test_the_first_placement_loads_no_time_zone_table(
    place_call_modules: set[str], place_call_modules_after_first_placement: set[str]
) -> None:
    """What the first placement still imports of libphonenumber is its callee's region alone
    (the bench's callees are Dutch): no time-zone table is left to it."""
    loaded = {
        m
        for m in place_call_modules_after_first_placement - place_call_modules
        if m.startswith("phonenumbers")
    }
    assert loaded <= {"phonenumbers.data.region_NL"}


def test_the_first_placement_is_placed(place_call_modules_after_first_placement: set[str]) -> None:
    """The probe placed through the whole path: the CM client and the key binding ran."""
    assert {"dtmf_gateway.adapters.cm_client", "dtmf_gateway.domain.key_binding"} <= (
        place_call_modules_after_first_placement
    )


@pytest.mark.parametrize(
    "module", [m for m in NOT_AT_PLACE_CALL_INIT if m.startswith("dtmf_gateway.")]
)
def test_a_successful_first_placement_does_not_load(
    place_call_modules_after_first_placement: set[str], module: str
) -> None:
    """What init leaves out is not loaded by the first placement instead (the stubbed
    network's own modules, moto's among them, load `csv`: only the product's are checked)."""
    assert module not in place_call_modules_after_first_placement
