"""Powertools Logger and Metrics shared by every function (service name from the environment).

Rules for every log line: phone numbers only through `domain.phone.mask`, never digits,
prompts, tokens or secrets.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(use_rfc3339=True)
metrics = Metrics()


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_by(name: str, dimension: str, label: str) -> None:
    """A metric with its own dimension (e.g. RequestsRefused by reason), flushed at once."""
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=metrics.namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name=dimension, value=label)
