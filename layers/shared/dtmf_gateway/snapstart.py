"""SnapStart runtime hooks: nothing secret, random, time-bound or connected is frozen in a snapshot.

With SnapStart (template parameter `SnapStart=true`, README "SnapStart"), Lambda runs a
function's init once per published version, snapshots its memory, and resumes every new
execution environment from that one snapshot (AWS Lambda docs, "Improving startup performance
with Lambda SnapStart" and "Handling uniqueness with Lambda SnapStart"). Whatever init left in
memory is then shared by every environment, for as long as the version lives:

- **secrets** (CM's product token, the callback signing keys) would sit in the snapshot, and
  their cache age would be the snapshot's: `wiring` registers each cache's `clear` with
  `forget_before_snapshot`, and the reads of the secrets the function uses on every request
  with `refresh_after_restore`: the after-restore hook reads them afresh, so the first request
  finds them cached. A read that fails there (throttled, network) is logged and skipped: the
  restore goes on, and the first request reads the secret itself, as without SnapStart;
- **random state**: `random`'s generator (botocore's retry jitter uses it) would produce the
  same sequence in every environment: reseeded from the OS after each restore (`uuid4`,
  `secrets` and token generation read `os.urandom` and need nothing);
- **connections and pools**: init opens none (boto3 connects on first request; the CM
  client's event loop and httpx client are made on first use), and anything a priming step
  opens is dropped before the snapshot by the hook its adapter registers. Kept: the CM
  client's TLS context, made at init, which holds only the CA certificates (no connection,
  session or key), so a restored environment does not parse the CA bundle again.

`install` (called by `api.gateway.lambda_handler` in every API function, and by the first
registration) registers the hooks with the runtime's
`snapshot_restore_py` module, and only in an environment Lambda initialises for a snapshot
(`AWS_LAMBDA_INITIALIZATION_TYPE` is `snap-start`); elsewhere it imports nothing and does
nothing.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

from dtmf_gateway import heap

SNAP_START = "snap-start"  # AWS_LAMBDA_INITIALIZATION_TYPE of a SnapStart init

_prime: list[Callable[[], None]] = []
_forget: list[Callable[[], None]] = []
_refresh: list[Callable[[], object]] = []
_installed: list[bool] = []  # [True] once the hooks are registered


def forget_before_snapshot(forget: Callable[[], None]) -> None:
    """Run ``forget`` before a snapshot is taken and again after each restore (a cache to
    empty, a connection to drop); installs the hooks (`install`) in a SnapStart init. Cheap
    when SnapStart is off: it only records ``forget``."""
    _forget.append(forget)
    install()


def prime_before_snapshot(prime: Callable[[], None]) -> None:
    """Run ``prime`` in the before-snapshot hook, before the forgetting (`dtmf_gateway.priming`:
    a request's one-off work, with no network and no secret), so that every environment
    restored from the snapshot starts with it done. Recorded only in a SnapStart init (`install`
    is True): elsewhere nothing runs it and nothing is kept."""
    if install():
        _prime.append(prime)


def refresh_after_restore(refresh: Callable[[], object]) -> None:
    """Run ``refresh`` in every environment resumed from a snapshot, after the forgetting (a
    secret to read afresh; its result is dropped). Best effort: a ``refresh`` that raises is
    logged and skipped (`after_restore`), so whatever it would have made is made on first use."""
    _refresh.append(refresh)


def before_snapshot() -> None:
    """The runtime's before-snapshot hook: run every primer (one that fails is logged and
    skipped: priming only saves time), then empty every registered cache and pool, then freeze
    what priming made out of later garbage collections (`heap`)."""
    for prime in _prime:
        try:
            prime()
        except Exception:  # noqa: BLE001 - a snapshot without that priming is still right
            from dtmf_gateway.observability import logger

            logger.warning("SnapStart priming failed; the first request does it", exc_info=True)
    for forget in _forget:
        forget()
    heap.freeze_init_objects()


#: Lambda times a restore out when its after-restore hooks run past 10 s (AWS Lambda docs,
#: "Troubleshooting SnapStart errors": SnapStartTimeoutException). No refresher starts once
#: this much of the hook has passed: each secret read is itself bounded (`wiring.secrets_client`:
#: at most ~5 s), so the hook ends within ~9 s whatever Secrets Manager does.
REFRESH_BUDGET_SECONDS = 4.0


def after_restore() -> None:
    """The runtime's after-restore hook: new random state, caches empty, refreshers run. It
    never raises for a refresher: a restore must not fail because, say, Secrets Manager
    throttled a read the first request can make again; a refresher that would start after
    REFRESH_BUDGET_SECONDS is left to the first request too."""
    random.seed()  # from os.urandom: this environment's own sequence
    started = time.monotonic()
    for forget in _forget:
        forget()
    for refresh in _refresh:
        if time.monotonic() - started > REFRESH_BUDGET_SECONDS:
            from dtmf_gateway.observability import logger

            logger.warning("SnapStart refresh skipped (restore time budget spent)")
            break
        try:
            refresh()
        except Exception:  # noqa: BLE001 - the first request reads it again (lazily)
            from dtmf_gateway.observability import logger

            logger.warning("SnapStart refresh failed; the first request does it", exc_info=True)


def install() -> bool:
    """Register `before_snapshot` and `after_restore` with the runtime (once) when this is a
    SnapStart init; True if registered. ImportError if the runtime lacks `snapshot_restore_py`
    (every Python 3.12+ Lambda runtime has it)."""
    if _installed:
        return True
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != SNAP_START:
        return False
    from snapshot_restore_py import (  # type: ignore[import-not-found]
        register_after_restore,
        register_before_snapshot,
    )

    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    _installed.append(True)
    return True
