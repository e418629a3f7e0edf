"""Hostile review of issue 15's expiry cursor: a change of `PendingCallsShards`.

The parameter's description says "raise only", and its MinValue (8) is all that enforces it:
a stack deployed with 16 and updated to 8 (or 32 -> 16: any value >= 8 is accepted) leaves
every call written on shards 8..15 where the expirer never looks again (it reads shards
0..N-1). Those calls never expire: they stay `queued` for ever and their result is never
published. The expirer already knows better — each shard it ever walked has a cursor item
(`expiry-cursor` / `shard#<n>`), read every run — but ignores cursors of shards >= N."""

from __future__ import annotations

from datetime import timedelta

from moto import mock_aws

from dtmf_gateway.adapters.dynamodb.calls_table import pending_shard
from dtmf_gateway.domain.expiry import expire_stale_calls
from tests.integration.test_expiry_cursor import SpyPendingCalls, _world


def test_lowering_the_shard_count_leaves_no_call_unexpired() -> None:
    with mock_aws():
        world = _world()
        world.placements._shards = 16  # deployed with PendingCallsShards=16
        high = [f"c-{n}" for n in range(64) if int(pending_shard(f"c-{n}", 16)) >= 8]
        for call_id in high[:5]:
            world.place(call_id, stale_after=900)
        sixteen = SpyPendingCalls(world.ddb)
        sixteen._shards = 16
        expire_stale_calls(sixteen, clock=lambda: world.now)  # cursors for all 16 shards

        # the stack is updated with PendingCallsShards=8 (accepted: MinValue is 8)
        world.now += timedelta(hours=1)
        report = expire_stale_calls(world.pending, clock=lambda: world.now)

        assert report.expired == 5, "calls on shards 8..15 are never expired"
        for call_id in high[:5]:
            assert world.item(call_id)["status"] == "expired"
