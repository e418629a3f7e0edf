"""Init's objects out of the garbage collector's sight: `gc.freeze()` at the end of init.

CPython's cyclic garbage collector traverses every object of the generation it collects; a
collection of the oldest generation (a "full" one) traverses every tracked object of the
process. After init a function holds tens of thousands of them that live as long as the
execution environment (botocore's service models and clients, pydantic's validators,
Powertools, phonenumbers' metadata, our compiled rules), and a full collection, which
CPython starts by itself every so often during a request, walks them all: in the bench's
place-call process a full collection took ~110 ms of CPU (`bench.warm`'s setting, with
moto's objects beside ours; README "Performance and cost").

`gc.freeze()` (Python docs, `gc.freeze`: "move them to a permanent generation and ignore them
in all the future collections") takes everything init made out of every later collection, so
a full collection walks only what requests left behind (~0 ms after init in the same
process). Nothing is freed by it or kept alive by it: reference counting frees objects as
before; only cyclic garbage that already existed at init (none of the requests') is never
reclaimed. No collection is run first (one costs tens of ms of cold start).

Init itself runs without the collector (`pause_collection_for_init`, called when a handler
module first imports `dtmf_gateway.init_begins`): its passes walk init's growing heap and free
almost nothing (figures in that module). `freeze_init_objects` turns it back on.

Only in a Lambda execution environment (`AWS_EXECUTION_ENV` is `AWS_Lambda_…`, set by the
runtime): a test process builds many functions' wiring one after another and relies on the
collector to reclaim what each test dropped.
"""

from __future__ import annotations

import gc
import os

LAMBDA_EXECUTION_ENV_PREFIX = "AWS_Lambda_"  # AWS_EXECUTION_ENV of every Lambda runtime


def _in_lambda() -> bool:
    return os.environ.get("AWS_EXECUTION_ENV", "").startswith(LAMBDA_EXECUTION_ENV_PREFIX)


def pause_collection_for_init() -> bool:
    """Turn the cyclic collector off (`gc.disable`) until `freeze_init_objects`, in a Lambda
    execution environment only; True if done. Reference counting still frees everything that
    is not in a cycle."""
    if not _in_lambda():
        return False
    gc.disable()
    return True


def freeze_init_objects() -> bool:
    """Move every object tracked now to the permanent generation (`gc.freeze`) and turn the
    collector (back) on, in a Lambda execution environment only; True if done. Called last in
    a function's init (and again after a SnapStart priming step). Costs microseconds."""
    if not _in_lambda():
        return False
    gc.freeze()
    gc.enable()
    return True
