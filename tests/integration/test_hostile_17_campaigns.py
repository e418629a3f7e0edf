# ruff: noqa: F811  (the fixtures of test_campaign_handlers, imported, are parameters here)
"""Hostile review of #17 (campaigns), through the functions in-process on moto: what the
README's "Campaigns" section promises a client, attacked at its edges."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from typing import Any

import pytest

from devtools.lambdas import LambdaContext, sample_event
from dtmf_gateway.domain.campaign_use_cases import CampaignConflict
from tests.conftest import FakeCm
from tests.integration.test_campaign_handlers import (  # noqa: F401  (fixtures)
    INSTRUCTION,
    Campaigns,
    api,
    campaigns,
    request,
    worker,
)
from tests.integration.test_campaigns import (
    OWNER,
    RowVerdict,
    World,
    parse_campaign_request,
    rows,
    world,  # noqa: F401  (fixture)
)
from tests.support.lambdas import invoke_http

BASE = "/v1/dtmf-campaigns"


def post(api: Any, body: Any) -> Any:
    return invoke_http(api, request("POST", BASE, body))


def body(cid: str = "h17", **extra: Any) -> dict[str, Any]:
    return {
        "campaign-id": cid,
        "instruction": copy.deepcopy(INSTRUCTION),
        "callees": [{"callee": "+31612345678", "variables": {"name": "A"}}],
        **extra,
    }


def as_other(event: dict[str, Any]) -> dict[str, Any]:
    iam = event["requestContext"]["authorizer"]["iam"]
    iam["userArn"] = "arn:aws:iam::123456789012:user/intruder"
    iam["userId"] = iam["callerId"] = "AIDAINTRUDER"
    iam["accessKey"] = "AKIAINTRUDER"
    return event


def validate(worker: Any, campaigns: Campaigns) -> list[dict[str, Any]]:
    worker.handler({"Records": campaigns.drain(campaigns.control)}, LambdaContext())
    return campaigns.drain(campaigns.rows)


def view(api: Any, cid: str) -> dict[str, Any]:
    got = invoke_http(api, request("GET", f"{BASE}/{cid}"))
    assert got.status == 200, got.body
    return dict(got.body)


def result_event(cid: str, row: int, outcome: str = "input-received") -> dict[str, Any]:
    return {
        "detail-type": "DTMF Result",
        "source": "dtmf-gateway",
        "detail": {
            "campaign-id": cid,
            "instruction-id": f"{cid}.{row}",
            "call-id": f"call-{row}",
            "caller": "+31201234567",
            "callee": "+31612345678",
            "outcome": outcome,
            "digits": "1234",
            "finished-at": "2026-12-01T09:01:00.000Z",
        },
    }


# --- synchronous 422s --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"calls-per-second": 0.09}, "calls-per-second"),
        ({"calls-per-second": 20.01}, "calls-per-second"),  # CmMaxCallsPerSecond 20
        ({"calls-per-second": 0}, "calls-per-second"),
        ({"calls-per-second": -1}, "calls-per-second"),
        ({"calls-per-second": "5"}, "calls-per-second"),
        ({"calls-per-second": True}, "calls-per-second"),
        ({"max-concurrent-calls": 0}, "max-concurrent-calls"),
        ({"max-concurrent-calls": 1001}, "max-concurrent-calls"),
        ({"max-concurrent-calls": 1.5}, "max-concurrent-calls"),
        ({"max-concurrent-calls": True}, "max-concurrent-calls"),
        ({"skip-invalid-rows": "false"}, "skip-invalid-rows"),
        ({"skip-invalid-rows": 0}, "skip-invalid-rows"),
        ({"callees-s3-uri": "s3://campaigns/x.csv"}, None),
    ],
)
def test_malformed_bodies_are_a_synchronous_422(
    api: Any, campaigns: Campaigns, extra: dict[str, Any], field: str | None
) -> None:
    got = post(api, body(**extra))
    assert got.status == 422, got.body
    if field:
        assert field in [e["field"] for e in got.body["errors"]], got.body
    assert campaigns.drain(campaigns.control) == []
    assert invoke_http(api, request("GET", f"{BASE}/h17")).status == 404


def test_rates_at_the_bounds_are_accepted(api: Any) -> None:
    assert post(api, body("lo", **{"calls-per-second": 0.1})).status == 202
    assert (
        post(api, body("hi", **{"calls-per-second": 20, "max-concurrent-calls": 1000})).status
        == 202
    )
    assert post(api, body("one", **{"max-concurrent-calls": 1})).status == 202


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["instruction"].update({"callee": "+31612345678"}),
        lambda b: b["instruction"].update({"callees": ["+31612345678"]}),
        lambda b: b["instruction"].update({"instruction-id": "x"}),
        lambda b: b["instruction"].update({"min-digits": 5, "max-digits": 4}),
        lambda b: b.pop("callees"),
        lambda b: b.update({"callees": [{"callee": "+31612345678"}] * 10_001}),
        lambda b: b.update({"callees": "+31612345678"}),
        lambda b: b.update({"instruction": None}),
        lambda b: b.update({"instruction": []}),
        lambda b: b.pop("instruction"),
    ],
)
def test_malformed_templates_and_lists_are_422(api: Any, mutate: Any) -> None:
    b = body()
    mutate(b)
    got = post(api, b)
    assert got.status == 422, got.body


@pytest.mark.parametrize(
    "cid",
    [
        "a" * 41,
        "..",
        ".",
        "with space",
        "caf\u00e9",
        "a/b",
        "a%2Fb",
        "",
        "\u0661\u0662",
        "abc\n",
        " abc",
        "abc\u200b",
        7,
    ],
)
def test_campaign_ids_outside_the_alphabet_or_over_40_are_422(api: Any, cid: str) -> None:
    got = post(api, body(cid))
    assert got.status == 422, got.body


def test_a_campaign_id_of_exactly_40_is_accepted_and_readable(api: Any) -> None:
    cid = "A" * 20 + "a.b_c:d-" + "9" * 12
    assert len(cid) == 40
    assert post(api, body(cid)).status == 202
    assert view(api, cid)["campaign-id"] == cid


@pytest.mark.parametrize(
    "uri",
    [
        "s3://other-bucket/lists/x.csv",
        "s3://campaigns.evil/x.csv",
        "s3://campaigns",
        "s3://campaigns/",
        "https://campaigns.s3.amazonaws.com/x.csv",
        "s3://campaigns/../other/x.csv",
        "s3://campaigns/missing.csv",
        "s3://CAMPAIGNS/x.csv",
    ],
)
def test_s3_lists_outside_the_bucket_or_missing_are_422(
    api: Any, campaigns: Campaigns, uri: str
) -> None:
    campaigns.s3.put_object(Bucket="campaigns", Key="x.csv", Body=b"callee\n+31612345678\n")
    b = body()
    del b["callees"]
    b["callees-s3-uri"] = uri
    got = post(api, b)
    assert got.status == 422, (uri, got.status, got.body)


# --- idempotency and ownership ----------------------------------------------------------


def test_same_body_twice_is_the_same_campaign_and_another_body_is_409(api: Any) -> None:
    assert post(api, body()).status == 202
    assert post(api, body()).status == 202
    other = post(api, body(**{"calls-per-second": 2}))
    assert other.status == 409
    assert other.body["type"].endswith("campaign-id-in-use")


def test_another_principal_sees_nothing(api: Any, campaigns: Campaigns) -> None:
    assert post(api, body()).status == 202
    for method, path in [
        ("GET", f"{BASE}/h17"),
        ("POST", f"{BASE}/h17/pause"),
        ("POST", f"{BASE}/h17/resume"),
        ("POST", f"{BASE}/h17/cancel"),
    ]:
        got = invoke_http(api, as_other(request(method, path)))
        assert got.status == 404, (method, path, got.status, got.body)
    # the owner's campaign is untouched
    assert view(api, "h17")["status"] == "validating"
    # the same body from another principal must not hand over the owner's campaign
    other = invoke_http(api, as_other(request("POST", BASE, body())))
    assert other.status != 202 or other.body.get("campaign-id") != "h17"


# --- control in every state --------------------------------------------------------------


def control(api: Any, cid: str, verb: str) -> Any:
    return invoke_http(api, request("POST", f"{BASE}/{cid}/{verb}"))


def test_pause_resume_cancel_twice_are_idempotent(
    api: Any, worker: Any, campaigns: Campaigns
) -> None:
    assert post(api, body()).status == 202
    for verb, status in [
        ("pause", "paused"),
        ("pause", "paused"),
        ("resume", None),
        ("resume", None),
        ("cancel", "cancelled"),
        ("cancel", "cancelled"),
    ]:
        got = control(api, "h17", verb)
        assert got.status == 200, (verb, got.body)
        if status:
            assert got.body["status"] == status
    for verb in ("pause", "resume"):
        assert control(api, "h17", verb).status == 409


def test_paused_while_validating_stays_paused_after_validation(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    assert post(api, body()).status == 202
    assert control(api, "h17", "pause").status == 200
    rows = validate(worker, campaigns)
    assert view(api, "h17")["status"] == "paused"
    if rows:
        worker.handler({"Records": rows}, LambdaContext())
    assert cm.requests == []


def test_cancel_after_finish_is_409_and_finished_is_published_once(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    assert post(api, body()).status == 202
    rows = validate(worker, campaigns)
    worker.handler({"Records": rows}, LambdaContext())
    assert len(cm.requests) == 1
    worker.handler(result_event("h17", 1), LambdaContext())
    worker.handler(result_event("h17", 1), LambdaContext())  # at least once: a second delivery
    v = view(api, "h17")
    assert v["status"] == "finished"
    assert v["counts"]["finished"] == 1
    assert v["counts"].get("input-received") == 1
    assert control(api, "h17", "cancel").status == 409
    assert control(api, "h17", "resume").status == 409
    assert control(api, "h17", "pause").status == 409
    results = campaigns.s3.get_object(Bucket="campaigns", Key="campaigns/h17/results.jsonl")
    lines = results["Body"].read().decode().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["row"] == 1 and line["instruction-id"] == "h17.1"
    assert line["outcome"] == "input-received", line
    assert line["callee"] == "+31612345678", line


def test_cancel_ends_unplaced_rows_not_placed_cancelled(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    b = body()
    b["callees"] = [{"callee": f"+316123456{n:02d}", "variables": {"name": "N"}} for n in range(3)]
    assert post(api, b).status == 202
    rows = validate(worker, campaigns)
    assert control(api, "h17", "cancel").status == 200
    worker.handler({"Records": rows}, LambdaContext())
    assert cm.requests == []
    v = view(api, "h17")
    assert v["status"] == "cancelled"
    assert v["counts"].get("not-placed") == 3, v
    assert v["results-uri"]
    lines = [
        json.loads(x)
        for x in campaigns.s3.get_object(Bucket="campaigns", Key="campaigns/h17/results.jsonl")[
            "Body"
        ]
        .read()
        .decode()
        .splitlines()
    ]
    assert [(x["row"], x.get("status"), x.get("reason")) for x in lines] == [
        (1, "not-placed", "cancelled"),
        (2, "not-placed", "cancelled"),
        (3, "not-placed", "cancelled"),
    ]


@pytest.mark.parametrize(
    "rows",
    [
        [None],
        ["+31612345678"],
        [{"callee": "+31612345678", "variables": []}],
        [{"callee": "+31612345678", "variables": {"name": 7}}],
        [{"callee": "+31612345678", "metadata": "x", "variables": {"name": "A"}}],
        [{"callee": None, "variables": {"name": "A"}}],
    ],
)
def test_a_malformed_row_is_refused_or_an_invalid_row_never_a_call(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm, rows: list[Any]
) -> None:
    b = body()
    b["callees"] = rows
    got = post(api, b)
    if got.status == 422:
        return
    assert got.status == 202, got.body
    queued = validate(worker, campaigns)
    if queued:
        worker.handler({"Records": queued}, LambdaContext())
    assert cm.requests == []
    v = view(api, "h17")
    assert (v["status"], v["counts"].get("invalid-rows")) == ("failed", 1), v


# --- rows: duplicates, placeholders, invalid rows ---------------------------------------


def test_duplicates_in_any_spelling_are_called_once(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    b = body()
    b["callees"] = [
        {"callee": "+31612345678", "variables": {"name": "A"}},
        {"callee": "+31 6 1234 5678", "variables": {"name": "B"}},
        {"callee": "+31-6-12345678", "variables": {"name": "C"}},
    ]
    assert post(api, b).status == 202
    rows = validate(worker, campaigns)
    worker.handler({"Records": rows}, LambdaContext())
    assert len(cm.requests) == 1
    assert view(api, "h17")["counts"].get("duplicate-rows") == 2


def test_a_missing_variable_fails_the_campaign_and_places_nothing(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    b = body()
    b["callees"] = [
        {"callee": "+31612345678", "variables": {"name": "A"}},
        {"callee": "+31687654321"},
    ]
    assert post(api, b).status == 202
    rows = validate(worker, campaigns)
    worker.handler({"Records": rows}, LambdaContext()) if rows else None
    assert cm.requests == []
    v = view(api, "h17")
    assert v["status"] == "failed"
    assert v["counts"]["invalid-rows"] == 1
    errors = (
        campaigns.s3.get_object(Bucket="campaigns", Key=v["errors-uri"].split("/", 3)[3])["Body"]
        .read()
        .decode()
        .splitlines()
    )
    assert json.loads(errors[0])["row"] == 2
    assert json.loads(errors[0])["errors"][0]["field"] == "variables.name"


@pytest.mark.parametrize(
    "name",
    [
        "x" * 1000,  # the filled prompt exceeds 1,000 characters
        "A\u0000B",  # a control character after filling
        "A\u0085B",  # C1
    ],
)
def test_filled_prompts_are_revalidated(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm, name: str
) -> None:
    b = body(**{"skip-invalid-rows": True})
    b["callees"] = [
        {"callee": "+31612345678", "variables": {"name": "ok"}},
        {"callee": "+31687654321", "variables": {"name": name}},
    ]
    assert post(api, b).status == 202
    rows = validate(worker, campaigns)
    assert [json.loads(r["body"])["row"] for r in rows] == [1]
    assert view(api, "h17")["counts"]["invalid-rows"] == 1


def test_ssml_placeholders_cannot_inject_elements(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    b = body(**{"skip-invalid-rows": True})
    b["instruction"]["prompt"] = "<speak>Hello {{name}}, type your PIN.</speak>"
    b["instruction"]["prompt-type"] = "TTS_SSML"
    b["callees"] = [
        {"callee": "+31612345678", "variables": {"name": "Anna"}},
        {
            "callee": "+31687654321",
            "variables": {"name": '<audio src="https://evil.example/x.wav"/>'},
        },
        {"callee": "+31687654322", "variables": {"name": "</speak><speak>"}},
        {"callee": "+31687654323", "variables": {"name": "<!ENTITY x 'y'>"}},
        {"callee": "+31687654324", "variables": {"name": 'Bob<break time="10s"/>'}},
    ]
    assert post(api, b).status == 202
    rows = validate(worker, campaigns)
    worker.handler({"Records": rows}, LambdaContext())
    assert len(rows) == 5, view(api, "h17")  # every value is text: no row is invalid
    prompts = [req["prompt"] for req in cm.bodies()]  # those the pacing let through at once
    assert prompts
    for prompt in prompts:
        assert prompt.count("<speak") == 1 and prompt.count("</speak>") == 1, prompt
        assert "<audio" not in prompt and "<!ENTITY" not in prompt and "<break" not in prompt


# --- S3 lists ---------------------------------------------------------------------------


def s3_campaign(api: Any, campaigns: Campaigns, key: str, data: bytes, **extra: Any) -> Any:
    campaigns.s3.put_object(Bucket="campaigns", Key=key, Body=data)
    b = body(**extra)
    del b["callees"]
    b["callees-s3-uri"] = f"s3://campaigns/{key}"
    return post(api, b)


def test_csv_with_bom_crlf_quoted_commas(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    data = (
        "\ufeffcallee,name,metadata.patient\r\n"
        '+31612345678,"Smith, Anna",p-1\r\n'
        '+31687654321,"=HYPERLINK(""http://x"")",p-2\r\n'
    ).encode()
    assert s3_campaign(api, campaigns, "lists/a.csv", data).status == 202
    rows = validate(worker, campaigns)
    assert view(api, "h17")["counts"]["rows"] == 2, view(api, "h17")
    worker.handler({"Records": rows}, LambdaContext())
    assert len(cm.requests) == 2
    assert "Smith, Anna" in json.dumps(cm.bodies()[0], ensure_ascii=False)


def test_jsonl_with_unicode_and_a_blank_trailing_line(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    data = (
        json.dumps(
            {"callee": "+31612345678", "variables": {"name": "Zoë 日本"}}, ensure_ascii=False
        )
        + "\n"
        + json.dumps({"callee": "+31687654321", "variables": {"name": "Bo"}})
        + "\n\n"
    ).encode()
    assert s3_campaign(api, campaigns, "lists/a.jsonl", data).status == 202
    validate(worker, campaigns)
    v = view(api, "h17")
    assert v["counts"]["rows"] == 2, v
    assert v["status"] == "running", v


def test_an_unreadable_list_fails_the_campaign(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    assert s3_campaign(api, campaigns, "lists/bad.jsonl", b"\xff\xfe{not json\n").status in (
        202,
        422,
    )
    validate(worker, campaigns)
    got = invoke_http(api, request("GET", f"{BASE}/h17"))
    if got.status == 200:
        assert got.body["status"] == "failed", got.body


def test_a_csv_without_a_callee_column_fails(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    assert s3_campaign(
        api, campaigns, "lists/nocallee.csv", b"phone,name\n+31612345678,A\n"
    ).status in (202, 422)
    validate(worker, campaigns)
    got = invoke_http(api, request("GET", f"{BASE}/h17"))
    if got.status == 200:
        assert got.body["status"] == "failed", got.body
    assert cm.requests == []


def test_a_huge_csv_row_is_an_invalid_row_not_a_crash(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    data = b"callee,name\n+31612345678,A\n+31687654321," + b"x" * 2_000_000 + b"\n"
    assert (
        s3_campaign(api, campaigns, "lists/huge.csv", data, **{"skip-invalid-rows": True}).status
        == 202
    )
    rows = validate(worker, campaigns)
    v = view(api, "h17")
    assert v["counts"].get("invalid-rows") == 1, v
    assert [json.loads(r["body"])["row"] for r in rows] == [1]
    errors = campaigns.s3.get_object(Bucket="campaigns", Key=v["errors-uri"].split("/", 3)[3])
    line = json.loads(errors["Body"].read().decode().splitlines()[0])
    assert line["row"] == 2
    assert line["errors"][0]["field"] == "(csv)"
    assert "readable CSV" in line["errors"][0]["message"]


def test_a_huge_csv_row_without_skip_fails_the_campaign_instead_of_hanging(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    data = b"callee,name\n+31612345678,A\n+31687654321," + b"x" * 200_000 + b"\n"
    assert s3_campaign(api, campaigns, "lists/huge.csv", data).status == 202
    validate(worker, campaigns)
    assert view(api, "h17")["status"] == "failed"
    assert cm.requests == []


# --- events --------------------------------------------------------------------------------


def test_the_sample_get_is_404_to_another_principal(api: Any) -> None:
    assert post(api, body("reminders-2026-12")).status == 202
    assert invoke_http(api, as_other(sample_event("campaigns.json"))).status == 404


# --- races and late events, on the use cases (test_campaigns.World) --------------------


def _created(world: World, **body: Any) -> str:
    raw = {"instruction": INSTRUCTION | {"prompt": "Hello {{name}}, type your PIN."}, **body}
    request = parse_campaign_request(raw, max_calls_per_second=10, default_calls_per_second=1)
    campaign, _ = world.create.create(request, OWNER)
    return campaign.campaign_id


def _result(world: World, campaign_id: str, row: int) -> None:
    world.record.run(
        {
            "campaign-id": campaign_id,
            "instruction-id": f"{campaign_id}.{row}",
            "callee": world.queues.rows[row - 1]["callee"],
            "outcome": "input-received",
            "digits": "1234",
            "finished-at": "2026-12-01T09:01:00.000Z",
        }
    )


def test_cancel_while_validating_places_nothing_and_finishes_once(world: World) -> None:
    campaign_id = _created(world, callees=rows(3))
    world.control.act(campaign_id, OWNER, "cancel")
    world.validate.run(campaign_id)
    world.place_all()
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status == "cancelled"
    assert world.cm.requests == 0
    assert [e["status"] for e in world.bus.finished] == ["cancelled"]


def test_pause_then_cancel_while_validating_places_nothing(world: World) -> None:
    campaign_id = _created(world, callees=rows(2))
    world.control.act(campaign_id, OWNER, "pause")
    world.control.act(campaign_id, OWNER, "cancel")
    world.validate.run(campaign_id)
    world.place_all()
    assert world.cm.requests == 0
    assert len(world.bus.finished) == 1


def test_a_result_for_a_row_that_does_not_exist_does_not_finish_the_campaign(
    world: World,
) -> None:
    campaign_id = world.start(callees=rows(1))
    world.place_all()
    world.record.run(
        {
            "campaign-id": campaign_id,
            "instruction-id": f"{campaign_id}.99",
            "callee": "+31612000099",
            "outcome": "input-received",
            "digits": "1234",
            "finished-at": "2026-12-01T09:01:00.000Z",
        }
    )
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status == "running", campaign.counts
    assert world.bus.finished == []


@pytest.mark.parametrize("attempt", range(4))
def test_cancel_racing_the_last_result_publishes_finished_once(world: World, attempt: int) -> None:
    campaign_id = world.start(callees=rows(2))
    world.place_all()
    _result(world, campaign_id, 1)
    barrier = threading.Barrier(3)

    def cancel() -> None:
        barrier.wait()
        with contextlib.suppress(CampaignConflict):  # a 409 after finish is fine
            world.control.act(campaign_id, OWNER, "cancel")

    def last() -> None:
        barrier.wait()
        _result(world, campaign_id, 2)

    threads = [threading.Thread(target=cancel), threading.Thread(target=cancel)]
    threads.append(threading.Thread(target=last))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status in ("finished", "cancelled")
    assert len(world.bus.finished) == 1, world.bus.finished
    assert campaign.count("finished") == 2
    lines = world.lines(str(campaign.results_uri))
    assert [x["row"] for x in lines] == [1, 2]
    assert all(x["outcome"] == "input-received" for x in lines), lines


def test_a_file_prompt_filled_with_dot_dot_is_an_invalid_row(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    b = body(**{"skip-invalid-rows": True})
    b["instruction"]["prompt"] = "greetings/{{name}}.wav"
    b["instruction"]["prompt-type"] = "File"
    b["callees"] = [
        {"callee": "+31612345678", "variables": {"name": "anna"}},
        {"callee": "+31687654321", "variables": {"name": "../../other-account/x"}},
        {"callee": "+31687654322", "variables": {"name": "//evil.example/x"}},
        {"callee": "+31687654323", "variables": {"name": "x:https://evil.example/"}},
    ]
    assert post(api, b).status == 202
    queued = validate(worker, campaigns)
    assert [json.loads(r["body"])["row"] for r in queued] == [1]


def test_a_duplicate_of_an_invalid_row_is_still_called_with_skip(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    b = body(**{"skip-invalid-rows": True})
    b["callees"] = [
        {"callee": "+31612345678"},  # invalid: no name for the prompt
        {"callee": "+31612345678", "variables": {"name": "A"}},
    ]
    assert post(api, b).status == 202
    queued = validate(worker, campaigns)
    worker.handler({"Records": queued}, LambdaContext())
    assert len(cm.requests) == 1


@pytest.mark.parametrize(
    "header",
    [
        b"callee,metadata.,name\n+31612345678,x,A\n",
        b"callee,callee,name\n+31612345678,+31687654321,A\n",
        b"callee,name,name\n+31612345678,A,B\n",
    ],
)
def test_odd_csv_headers_do_not_call_an_ambiguous_row(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm, header: bytes
) -> None:
    got = s3_campaign(api, campaigns, "lists/odd.csv", header)
    if got.status == 422:
        return
    queued = validate(worker, campaigns)
    if queued:
        worker.handler({"Records": queued}, LambdaContext())
    v = view(api, "h17")
    assert v["status"] == "failed", (v, [r.content for r in cm.requests])
    assert cm.requests == []


def test_metadata_merged_over_the_template_is_revalidated(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    b = body(**{"skip-invalid-rows": True})
    b["instruction"]["metadata"] = {f"t{n}": "v" for n in range(6)}
    b["callees"] = [
        {"callee": "+31612345678", "variables": {"name": "A"}, "metadata": {"t0": "row"}},
        {
            "callee": "+31687654321",
            "variables": {"name": "B"},
            "metadata": {f"r{n}": "v" for n in range(5)},  # 11 keys once merged
        },
        {"callee": "+31687654322", "variables": {"name": "C"}, "metadata": {"k": "x\u0007"}},
        {"callee": "+31687654323", "variables": {"name": "D"}, "metadata": {"k": "x" * 257}},
    ]
    assert post(api, b).status == 202
    queued = validate(worker, campaigns)
    assert [json.loads(r["body"])["row"] for r in queued] == [1]
    worker.handler({"Records": queued}, LambdaContext())
    assert cm.bodies()[0]  # placed
    assert view(api, "h17")["counts"]["invalid-rows"] == 3


def test_a_failed_campaign_refuses_every_control_and_has_no_estimate(
    api: Any, worker: Any, campaigns: Campaigns
) -> None:
    b = body()
    b["callees"] = [{"callee": "+31612345678"}]  # no name: invalid, no skip
    assert post(api, b).status == 202
    validate(worker, campaigns)
    v = view(api, "h17")
    assert v["status"] == "failed"
    assert v["estimated-finish-at"] is None
    assert v["errors-uri"]
    for verb in ("pause", "resume", "cancel"):
        got = control(api, "h17", verb)
        assert got.status == 409, (verb, got.body)
        assert got.body["type"].endswith("campaign-state-conflict")


def test_a_paused_campaign_has_no_estimate_and_unpaused_places(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    assert post(api, body()).status == 202
    queued = validate(worker, campaigns)
    assert view(api, "h17")["estimated-finish-at"] is not None
    assert control(api, "h17", "pause").status == 200
    assert view(api, "h17")["estimated-finish-at"] is None
    worker.handler({"Records": queued}, LambdaContext())
    assert cm.requests == []
    assert control(api, "h17", "resume").body["status"] == "running"
    # the paused row, queued again (it looks again every 2 s: SQS DelaySeconds)
    again = campaigns.drain(campaigns.rows, wait_seconds=20)
    assert again, "a paused row must be queued again, never dropped"
    worker.handler({"Records": again}, LambdaContext())
    assert len(cm.requests) == 1


def test_exactly_10000_inline_rows_are_accepted(api: Any) -> None:
    b = body()
    b["callees"] = [
        {"callee": f"+316{12000000 + n}", "variables": {"name": "A"}} for n in range(10_000)
    ]
    assert post(api, b).status == 202


def test_jsonl_with_a_bom_and_crlf(api: Any, worker: Any, campaigns: Campaigns) -> None:
    data = (
        "\ufeff"
        + json.dumps({"callee": "+31612345678", "variables": {"name": "A"}})
        + "\r\n"
        + json.dumps({"callee": "+31687654321", "variables": {"name": "B"}})
        + "\r\n"
    ).encode()
    assert s3_campaign(api, campaigns, "lists/bom.jsonl", data).status == 202
    queued = validate(worker, campaigns)
    v = view(api, "h17")
    assert (v["status"], v["counts"].get("invalid-rows")) == ("running", 0), v
    assert len(queued) == 2


def test_a_csv_cell_with_a_quoted_newline_is_one_row(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    data = b'callee,name\r\n+31612345678,"Anna\r\nSmith"\r\n+31687654321,Bob\r\n'
    assert s3_campaign(api, campaigns, "lists/nl.csv", data).status == 202
    queued = validate(worker, campaigns)
    assert [json.loads(r["body"])["row"] for r in queued] == [1, 2]
    worker.handler({"Records": queued}, LambdaContext())
    assert "Anna" in cm.bodies()[0]["prompt"] and "Smith" in cm.bodies()[0]["prompt"]


def test_the_cancelled_results_and_finished_counts_agree(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    b = body()
    b["callees"] = [
        {"callee": "+31612345678", "variables": {"name": "A"}},
        {"callee": "+31687654321", "variables": {"name": "B"}},
    ]
    assert post(api, b).status == 202
    queued = validate(worker, campaigns)
    worker.handler({"Records": queued[:1]}, LambdaContext())
    assert control(api, "h17", "cancel").status == 200
    worker.handler({"Records": queued[1:]}, LambdaContext())
    worker.handler(result_event("h17", 1), LambdaContext())
    v = view(api, "h17")
    assert v["status"] == "cancelled"
    assert v["counts"]["placed"] == 1 and v["counts"]["finished"] == 1
    assert v["counts"]["not-placed"] == 1
    lines = (
        campaigns.s3.get_object(Bucket="campaigns", Key="campaigns/h17/results.jsonl")["Body"]
        .read()
        .decode()
        .splitlines()
    )
    got = [json.loads(x) for x in lines]
    assert [(x["row"], x.get("outcome"), x.get("status")) for x in got] == [
        (1, "input-received", None),
        (2, None, "not-placed"),
    ], got
    assert got[1]["instruction-id"] == "h17.2" and got[1]["callee"] == "+31687654321"


def test_a_validation_delivered_twice_counts_and_queues_once(world: World) -> None:
    campaign_id = _created(world, callees=[*rows(3), rows(1)[0]])  # row 4 duplicates row 1
    world.validate.run(campaign_id)
    world.validate.run(campaign_id)  # SQS delivers at least once
    world.place_all()
    assert world.cm.requests == 3
    campaign = world.store.load(campaign_id)
    assert campaign is not None
    assert campaign.count("rows") == 4 and campaign.count("duplicate-rows") == 1, campaign.counts
    for row in (1, 2, 3):
        _result(world, campaign_id, row)
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status == "finished", campaign.counts
    assert len(world.bus.finished) == 1
    assert [x["row"] for x in world.lines(str(campaign.results_uri))] == [1, 2, 3, 4]


def test_two_identical_posts_at_once_make_one_campaign(api: Any, campaigns: Campaigns) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        results.append(post(api, body()))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == [202, 202], [r.body for r in results]
    assert len(campaigns.drain(campaigns.control)) >= 1


@pytest.mark.parametrize("rate", [2.5, 1.5, 0.4])
def test_a_fractional_rate_is_never_exceeded_in_a_window(world: World, rate: float) -> None:
    world.start(callees=rows(6), **{"calls-per-second": rate})
    world.now = world.now.replace(microsecond=100_000)  # early in a window
    placed = sum(
        world.place.run(message) == RowVerdict.PLACED for message in list(world.queues.rows)
    )
    assert placed <= max(1, int(rate)), (rate, placed)


def test_an_ampersand_in_a_name_of_an_ssml_prompt_is_still_called(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    b = body(**{"skip-invalid-rows": True})
    b["instruction"]["prompt"] = "<speak>Hello {{name}}, type your PIN.</speak>"
    b["instruction"]["prompt-type"] = "TTS_SSML"
    b["callees"] = [{"callee": "+31612345678", "variables": {"name": "Smith & Sons <B.V.>"}}]
    assert post(api, b).status == 202
    queued = validate(worker, campaigns)
    worker.handler({"Records": queued}, LambdaContext())
    assert len(cm.requests) == 1, view(api, "h17")
    assert "Smith &amp; Sons &lt;B.V.&gt;" in cm.bodies()[0]["prompt"]


def test_a_corrected_result_is_the_rows_final_result(world: World) -> None:
    campaign_id = world.start(callees=rows(2))
    world.place_all()
    _result(world, campaign_id, 1)
    expired = {
        "campaign-id": campaign_id,
        "instruction-id": f"{campaign_id}.2",
        "callee": world.queues.rows[1]["callee"],
        "outcome": "expired",
        "digits": None,
        "revision": 0,
        "finished-at": "2026-12-01T10:00:00.000Z",
    }
    world.record.run(expired)
    world.record.run(
        expired
        | {"outcome": "input-received", "digits": "1234", "revision": 1, "corrects": "expired"}
    )
    campaign = world.store.load(campaign_id)
    assert campaign is not None
    lines = world.lines(str(campaign.results_uri))
    assert lines[1]["outcome"] == "input-received", lines[1]


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("lists/nul.csv", b"callee,name\n+31612345678,A\n+31687654321,B\x00C\n"),
        ("lists/latin1.csv", b"callee,name\n+31612345678,A\n+31687654321,Zo\xeb\n"),
        ("lists/int.jsonl", b'{"callee": 31612345678, "variables": {"name": "A"}}\n'),
        (
            "lists/deep.jsonl",
            b'{"callee": "+31612345678", "variables": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
        ),
    ],
)
def test_a_broken_list_ends_the_validation(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm, key: str, data: bytes
) -> None:
    got = s3_campaign(api, campaigns, key, data)
    if got.status == 422:
        return
    validate(worker, campaigns)
    v = view(api, "h17")
    assert v["status"] == "failed", v  # not stuck in 'validating' while the message retries
    assert cm.requests == []
