"""Business and latency metrics as CloudWatch embedded metric format (EMF) lines on stdout, via Powertools.

In Lambda, stdout goes to the function's log group as is and CloudWatch turns each EMF line into metrics, so
nothing here calls CloudWatch or needs a permission. Powertools' import plus first flush costs about 9 ms of a cold
start (`python -m bench.metrics_cost`, docs/operations.md), under the 40 ms budget for using it. Metrics are on only
where METRICS_NAMESPACE is set (the component sets it); local mode and plain tests never import Powertools.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from logs import get_logger

NAMESPACE_ENV = "METRICS_NAMESPACE"

# Every metric the code emits, with its CloudWatch unit; the dashboard and alarms use the same names.
UNITS = {
    "Requests": "Count", "RowsPredicted": "Count", "PredictionLatency": "Milliseconds", "ColdStart": "Count",
    "ClientErrors": "Count", "ServerErrors": "Count", "InitDuration": "Milliseconds",
    "ObjectsScored": "Count", "RowsScored": "Count", "ObjectsFailed": "Count", "Lag": "Seconds",
}
SOURCES = ("inline", "s3", "image", "none")
"""Values of the Source dimension on Requests; a request that failed before naming its input counts as none."""


def process_age_ms() -> float | None:
    """Milliseconds since this process started (Linux), or None where /proc cannot tell."""
    try:
        with open("/proc/self/stat") as stat:
            # Field 22 (starttime, in clock ticks since boot) counted after the ')' that ends the command name.
            started = int(stat.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, (time.clock_gettime(time.CLOCK_BOOTTIME) - started) * 1000)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class Emitter:
    """Writes the EMF lines of one function; every call is a no-op when no namespace is configured."""

    def __init__(self, namespace: str, function_name: str) -> None:
        self.function_name = function_name
        self._cold = True
        self.init_ms: float | None = None
        self._metrics: Any = None
        if namespace:
            # Imported only when metrics are on, so local mode pays nothing for it.
            from aws_lambda_powertools.metrics import EphemeralMetrics

            # Ephemeral: Powertools' Metrics shares its state across instances; ours flushes per request.
            self._metrics = EphemeralMetrics(namespace=namespace, service=None)
            self._metrics.set_default_dimensions(FunctionName=function_name)

    @property
    def enabled(self) -> bool:
        """Whether anything is written at all."""
        return self._metrics is not None

    def _flush(self, values: Mapping[str, float], dimensions: Mapping[str, str] | None = None) -> None:
        if self._metrics is None:
            return
        try:
            for name, value in values.items():
                self._metrics.add_metric(name=name, unit=UNITS[name], value=value)
            for name, value in (dimensions or {}).items():
                self._metrics.add_dimension(name=name, value=value)
            self._metrics.flush_metrics(raise_on_empty_metrics=True)
        except Exception:  # a metric is never worth a failed response or a retried object
            get_logger().warning("could not write metrics", exc_info=True)

    def mark_ready(self) -> None:
        """Called at the end of init: the process's age then is its init duration, as far as the code can see.

        Lambda reports its own InitDuration only in the REPORT log line, which this stack's WARN system log level
        drops; this figure covers interpreter start, imports and model load (not the image pull or VM start).
        """
        self.init_ms = process_age_ms()

    def _cold_start(self, values: dict[str, float]) -> dict[str, float]:
        cold, self._cold = self._cold, False
        values["ColdStart"] = int(cold)
        if cold and self.init_ms is not None:
            values["InitDuration"] = round(self.init_ms, 1)
        return values

    def request(self, source: str, status: int, rows: int, latency_ms: float) -> None:
        """API function, once per request: rows, latency, cold start, errors by status class, and source."""
        self._flush(self._cold_start({"RowsPredicted": rows if status == 200 else 0, "PredictionLatency": latency_ms,
                                      "ClientErrors": int(400 <= status < 500), "ServerErrors": int(status >= 500)}))
        # A line of its own: a second dimension set in the first line would publish every metric twice.
        self._flush({"Requests": 1}, {"Source": source if source in SOURCES else "none"})

    def object_scored(self, rows: int, lag_s: float) -> None:
        """Batch function, once per object scored: rows written and seconds from the object's creation."""
        self._flush(self._cold_start({"ObjectsScored": 1, "RowsScored": rows, "ObjectsFailed": 0,
                                      "Lag": max(0.0, lag_s)}))

    def object_failed(self, lag_s: float) -> None:
        """Batch function, once per object that can never be scored (it got an errors/ report instead)."""
        self._flush(self._cold_start({"ObjectsScored": 0, "RowsScored": 0, "ObjectsFailed": 1,
                                      "Lag": max(0.0, lag_s)}))


def from_environment() -> Emitter:
    """The function's emitter: namespace from METRICS_NAMESPACE, name from the variable Lambda sets."""
    return Emitter(os.environ.get(NAMESPACE_ENV, ""), os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"))
