"""Powertools parser integration (`pip install "dtmf-gateway-events[powertools]"`).

```python
from aws_lambda_powertools.utilities.parser import event_parser
from dtmf_gateway_events import DtmfResult
from dtmf_gateway_events.envelope import DtmfGatewayEnvelope

@event_parser(model=DtmfResult, envelope=DtmfGatewayEnvelope)
def handler(result: DtmfResult, context): ...
```

`DtmfGatewayEnvelope` is Powertools' EventBridge envelope that also checks the event comes from
dtmf-gateway with the detail-type of the model asked for (a rule that routes other events to
the function fails loudly instead of parsing them as results). `DtmfGatewaySqsEnvelope` does
the same for events the bus delivered to an SQS queue (each record's body is one event).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.parser import BaseEnvelope
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SqsModel
from pydantic import BaseModel

from dtmf_gateway_events.models import DETAIL_MODELS, SOURCE

Model = TypeVar("Model", bound=BaseModel)


def _detail_type_of(model: type[BaseModel]) -> str:
    for detail_type, detail_model in DETAIL_MODELS.items():
        if issubclass(model, detail_model):
            return detail_type
    raise TypeError(f"{model.__name__} is not a dtmf-gateway detail model")


def _checked[Model: BaseModel](event: EventBridgeModel, model: type[Model]) -> Model:
    expected = _detail_type_of(model)
    if event.source != SOURCE or event.detail_type != expected:
        raise ValueError(
            f"expected a {SOURCE!r} {expected!r} event, got {event.source!r} {event.detail_type!r}"
        )
    return model.model_validate(event.detail)


class DtmfGatewayEnvelope(BaseEnvelope):
    """An EventBridge event from dtmf-gateway → its detail, as `model`."""

    def parse(self, data: dict[str, Any] | Any | None, model: type[Model]) -> Model | None:  # type: ignore[override]
        if data is None:
            return None
        return _checked(EventBridgeModel.model_validate(data), model)


class DtmfGatewaySqsEnvelope(BaseEnvelope):
    """An SQS event whose records are dtmf-gateway events → their details, as `model`."""

    def parse(self, data: dict[str, Any] | Any | None, model: type[Model]) -> list[Model]:  # type: ignore[override]
        if data is None:
            return []
        records = SqsModel.model_validate(data).Records
        return [
            _checked(EventBridgeModel.model_validate(json.loads(str(r.body))), model)
            for r in records
        ]
