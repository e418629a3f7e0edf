"""What the callback route answers CM once a callback is read: counted, logged, rendered.

The error answers live in the callback catalogue (`api.catalogues`); these are the 200s.
CM only needs a 2xx to stop redelivering; the `status` tells an operator reading the
simulator's or API Gateway's logs what happened (`recorded`, `held`, `duplicate`,
`ignored`). A refusal is raised as `CallbackRefused` for the catalogue to answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dtmf_gateway.api.models import CallbackAcknowledged, json_response
from dtmf_gateway.api.problems import CallbackRefused
from dtmf_gateway.domain.callbacks import CallbackVerdict, unexpected_shape
from dtmf_gateway.observability import count, count_by, logger
from dtmf_gateway.observability import record as log_record

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response

    from dtmf_gateway.domain.callbacks import CallbackRecord, CmCallback


def ignored(callback: CmCallback) -> Response[str]:
    """A callback of another type than `dtmf-finished`: acknowledged, nothing recorded."""
    count_by("CallbacksIgnored", "type", "other")
    log_record("callback of another type ignored", callback_type=callback.type[:32])
    return json_response(CallbackAcknowledged(status="ignored"))


def acknowledged(record: CallbackRecord, callback: CmCallback, raw: Any) -> Response[str]:
    """The 200 for a recorded, held or duplicate callback (counted and logged); raises
    CallbackRefused for any other verdict. `raw` is the parsed body, for the
    unexpected-shape check (key names only are logged, never values)."""
    verdict = record.verdict
    if verdict in (CallbackVerdict.RECORDED, CallbackVerdict.HELD):
        count_by("CallbacksRecorded", "outcome", str(record.outcome))
        flags = {  # only when true (issue 15: log bytes are billed)
            "held": verdict is CallbackVerdict.HELD,
            "corrects_expired": record.corrected,
        }
        log_record(  # in the request's metrics document: one log line (issue 15)
            "call finished",
            call_id=callback.call_id,
            outcome=str(record.outcome),
            **{key: True for key, on in flags.items() if on},
        )
        if keys := unexpected_shape(callback, raw):
            count("UnexpectedCallbackShape")
            logger.warning("answered call without digits, unexpected keys", extra={"keys": keys})
    elif verdict is CallbackVerdict.DUPLICATE:
        count("CallbacksDuplicate")
        log_record("duplicate callback acknowledged", call_id=callback.call_id)
    else:
        raise CallbackRefused(verdict.value, callback.call_id)
    return json_response(CallbackAcknowledged(status=verdict.value))
