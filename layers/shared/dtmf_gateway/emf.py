"""One CloudWatch Logs line per request: the request's EMF metrics document is also its log record.

CloudWatch Logs bills every byte ingested and 26 bytes of metadata per line (issue 15). A
request used to write an INFO line saying what happened *and* an EMF document counting the
same thing. Inside a handler decorated by `metrics.log_metrics`, `OneDocument.record` puts the
INFO record's keys into that document instead: the EMF specification lets the root node carry
any member no metric directive names; CloudWatch extracts the metrics and keeps the whole
line as the log event, so `sam logs --filter "call finished"` and Logs Insights
(`fields message, correlation_id, outcome`) find it as before. Source: "Specification:
Embedded metric format", docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html.

The record keeps `level`, `message`, `correlation_id` (the instruction id),
`function_request_id`, `xray_trace_id` when tracing is on (Lambda's `_X_AMZN_TRACE_ID`, its
`Root=` part: the key and value Powertools' logger writes) and the record's own keys; the
line's time is the document's `_aws.Timestamp` (epoch ms) and `service` is its dimension.
Left out: Powertools' `timestamp` (the same instant) and `cold_start` (a cold start writes its
own `ColdStart` document).
Warnings and errors stay ordinary log lines (`logger.warning` / `logger.error`).

Metrics with a dimension of their own (`count_by`: `CallbacksRecorded` by `outcome`,
`RequestsRefused` by `reason`, ...) ride in the same document as a metric directive of their
own: the specification makes `CloudWatchMetrics` an array of directives, each with its own
`Dimensions` and `Metrics`, all reading the root's members. So `CallbacksRecorded` keeps
exactly the dimension set `{outcome, service}` and `CallbacksReceived` exactly `{service}`:
the same metrics as two documents made, no new metric (Powertools' `add_dimensions` would
put every metric of the document under every dimension set: new metrics, each billed).

Outside such a handler, below the logger's level check, or when the document could not be
written (no metric in it), a record falls back to an ordinary `logger.info` line, and a
metric with its own dimension to a document of its own (Powertools' `single_metric`), as
does one whose dimension or name the document already uses with another value: nothing is
lost, at worst it costs the bytes it used to.

With metrics disabled (`POWERTOOLS_METRICS_DISABLED`, or `POWERTOOLS_DEV` alone: Powertools'
`is_metrics_disabled`) Powertools prints no document and keeps what it holds: the record is
then a `logger.info` line, and the request's metrics, metadata and carried metrics are
dropped, so none of it reaches a later request's document.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from aws_lambda_powertools.shared.constants import XRAY_TRACE_ID_ENV

if TYPE_CHECKING:
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.types import CloudWatchEMFOutput

#: A Count metric with a dimension of its own: (name, dimension, label, value).
Carried = tuple[str, str, str, float]

#: Keys of a record carried in the document, besides its own.
RECORD_KEYS: Final = (
    "level",
    "message",
    "correlation_id",
    "function_request_id",
    "xray_trace_id",  # when tracing is on
)


class OneDocument(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider whose document also carries the request's INFO record.

    Use one instance as the `provider` of the process's `Metrics` (sharing its metric,
    dimension and metadata sets), and call :meth:`bind` with the process's `Logger`.
    """

    _logger: Logger | None = None
    _in_request: bool = False
    _record: tuple[str, dict[str, Any]] | None = None
    _carried: tuple[Carried, ...] = ()
    _merging: tuple[Carried, ...] = ()

    def bind(self, logger: Logger) -> None:
        """The logger whose level, correlation id and request id records follow."""
        self._logger = logger

    def log_metrics(  # type: ignore[override]
        self, lambda_handler: Callable[..., Any] | None = None, **kwargs: Any
    ) -> Any:
        """Powertools' `log_metrics`; while the handler runs, records go into its document."""
        if lambda_handler is None:
            return functools.partial(self.log_metrics, **kwargs)
        return super().log_metrics(lambda_handler=self._inside(lambda_handler), **kwargs)

    def _inside(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> Any:
            self._in_request = True
            try:
                return handler(*args, **kwargs)
            finally:
                self._in_request = False

        return run

    def record(self, message: str, fields: dict[str, Any]) -> None:
        """Log `message` at INFO with `fields` (JSON values): as members of this request's
        metrics document when inside a `log_metrics` handler, else as a `logger.info` line.
        A second record in one request is logged as a line (a document holds one)."""
        logger = self._logger
        if logger is None:
            raise RuntimeError("OneDocument.bind(logger) was not called")
        if logger.log_level > logging.INFO:  # LogLevel WARNING or above: not logged
            return
        if not self._in_request or self._record is not None:
            logger.info(message, extra=fields)
            return
        self._record = (message, fields)

    def count_by(self, name: str, dimension: str, label: str, value: float = 1) -> None:
        """Count `name` under `{dimension: label, service}`: in this request's document when
        inside a `log_metrics` handler, else in a document of its own at once."""
        if self._in_request:
            self._carried = (*self._carried, (name, dimension, label, value))
        else:
            self._alone((name, dimension, label, value))

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        """Powertools' flush, with the pending record and the carried metrics in the document
        (a record as a line, a carried metric as a document of its own, when they cannot be).
        With metrics disabled: the record as a line, and nothing of the request kept."""
        pending, self._record = self._record, None
        carried, self._carried = self._carried, ()
        if is_metrics_disabled():  # Powertools would neither print nor clear
            if pending is not None and self._logger is not None:
                self._logger.info(pending[0], extra=pending[1])
            self.clear_metrics()
            return
        if pending is not None and self._logger is not None:  # record() needs the logger
            message, fields = pending
            if self.metric_set:
                self._add_record(self._logger, message, fields)
            else:
                self._logger.info(message, extra=fields)
        merging, alone = self._fitting(carried) if self.metric_set else ((), carried)
        for metric in alone:
            self._alone(metric)
        self._merging = merging
        try:
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)
        finally:
            self._merging = ()

    def serialize_metric_set(
        self,
        metrics: dict[str, Any] | None = None,
        dimensions: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> CloudWatchEMFOutput:
        """Powertools' document, plus one metric directive per carried metric being flushed."""
        document = super().serialize_metric_set(metrics, dimensions, metadata)
        shared = list(self.dimension_set)  # `service` (and any default dimension)
        root: dict[str, Any] = document  # type: ignore[assignment]
        for name, dimension, label, value in self._merging:
            document["_aws"]["CloudWatchMetrics"].append(
                {
                    "Namespace": str(self.namespace),
                    "Dimensions": [[dimension, *shared]],
                    "Metrics": [{"Name": name, "Unit": MetricUnit.Count.value}],
                }
            )
            root[dimension] = label
            root[name] = [float(value)]
        return document

    def _fitting(
        self, carried: tuple[Carried, ...]
    ) -> tuple[tuple[Carried, ...], tuple[Carried, ...]]:
        """(those the document can carry, those that need their own): a carried metric's
        dimension must not be a root member with another value, nor its name one at all."""
        values: dict[str, Any] = {**self.dimension_set, **self.metadata_set}
        names = set(self.metric_set)
        fits: list[Carried] = []
        alone: list[Carried] = []
        for metric in carried:
            name, dimension, label, _ = metric
            if name in names or name in values or values.get(dimension, label) != label:
                alone.append(metric)
                continue
            fits.append(metric)
            names.add(name)
            values[dimension] = label
        return tuple(fits), tuple(alone)

    def _alone(self, metric: Carried) -> None:
        name, dimension, label, value = metric
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=value,
            namespace=self.namespace,
            default_dimensions=self.default_dimensions,
        ) as alone:
            alone.add_dimension(name=dimension, value=label)

    def _add_record(self, logger: Logger, message: str, fields: dict[str, Any]) -> None:
        keys = logger.get_current_keys()
        carried = {
            "level": "INFO",
            "message": message,
            "correlation_id": logger.get_correlation_id(),
            "function_request_id": keys.get("function_request_id"),
            "xray_trace_id": _trace_id(),
            **fields,
        }
        for key, value in carried.items():
            if value is not None and key not in self.dimension_set:
                self.add_metadata(key=key, value=value)


def _trace_id() -> str | None:
    """The X-Ray trace id of the current invocation ("1-5759e988-bd862e3fe1be46a994272793"),
    None when tracing is off: the `Root=` part of Lambda's `_X_AMZN_TRACE_ID`, as Powertools'
    logger derives its `xray_trace_id` (`LambdaPowertoolsFormatter._get_latest_trace_id`)."""
    header = os.getenv(XRAY_TRACE_ID_ENV)
    return header.split(";")[0].replace("Root=", "") if header else None
