"""Hostile review of issue 18's delivery function (moto SQS, handler events): what the
operator's documented replay and the queue plumbing do to a delivery."""

from __future__ import annotations

from typing import Any

from devtools.lambdas import LambdaContext, load_function
from tests.integration import test_deliver_webhooks as base
from tests.integration.test_deliver_webhooks import URL, World, _event, _place, _record

world = base.world  # the fixture: moto queues, the secret, a mocked receiver


def test_a_delivery_replayed_from_the_dlq_is_not_deduplicated_against_its_first_pass(
    world: World, place_call: Any
) -> None:
    """docs/operations.md "Replay webhooks": the DLQ's events go back to the webhook queue
    for a fresh set of attempts. A fresh set starts at attempt 0 again, and the lane message's
    MessageDeduplicationId was `{webhook-id}-{attempt}` — the same as the first pass's. Real
    SQS silently drops a FIFO message whose deduplication id it accepted in the last 5
    minutes, even if that one was deleted since (moto forgets deleted ones, so the ids are
    compared here): a replay within 5 minutes of the first attempt (the local stack's
    1-second backoff and 4 attempts get there in seconds; so does WebhookMaxAttempts=1)
    vanished — off the DLQ, never in a lane, never posted."""
    world.statuses = [503]
    _place(place_call, "replayed", **{"webhook-url": URL})
    body = _event("replayed")
    module = load_function("deliver_webhooks")
    client = module.lanes._sqs
    send = client.send_message
    dedupe_ids: list[str] = []

    def recorded(**kwargs: Any) -> Any:
        dedupe_ids.append(kwargs["MessageDeduplicationId"])
        return send(**kwargs)

    client.send_message = recorded

    first = _record(body, fifo=False)
    module.handler({"Records": [first]}, LambdaContext())  # the bus's event: to its lane
    replay = _record(body, fifo=False)  # the same event, moved back from the DLQ
    module.handler({"Records": [replay]}, LambdaContext())
    redelivery = {**first}  # SQS delivering the first message again (at least once)
    module.handler({"Records": [redelivery]}, LambdaContext())

    assert len(dedupe_ids) == 3
    assert dedupe_ids[0] != dedupe_ids[1], "the replay reuses the first pass's dedupe id"
    assert dedupe_ids[0] == dedupe_ids[2]  # a redelivery of one message is still deduped
