"""Batch entry point: SQS messages carrying S3 event notifications -> predictions/<path>.json or errors/<path>.json.

An object under incoming/ that can never be scored gets an errors/ file and its message is acknowledged; a
transient failure (S3 busy, object not readable yet) is reported as a batch item failure so only that message is
retried, reaching the dead-letter queue after 3 receives. Nothing is ever written under incoming/.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import boto3
import numpy as np
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ConnectTimeoutError, ReadTimeoutError

import batch
import npystream
from app import MAX_CSV_BYTES, MAX_JSON_BYTES, MAX_OBJECT_BYTES, MAX_ROWS, METRICS, MODEL, MODEL_INFO, VALUE_RANGE
from app import IMAGE_SUFFIXES, image_rows
from errors import Forbidden, InvalidRows, NotFound, RequestError, TooLarge, UpstreamError, UpstreamTimeout
from logs import get_logger
from source import _client_error, allowed_buckets  # the API's S3 error mapping, shared rather than copied

INCOMING, PREDICTIONS, ERRORS = "incoming/", "predictions/", "errors/"
# Retrying may fix these (S3 busy, an event delivered before its object is readable, a role not yet in effect);
# every other RequestError is the object's own fault and is written to errors/.
TRANSIENT = (Forbidden, NotFound, UpstreamError, UpstreamTimeout)
_MAX_KEY_BYTES = 1024
# An object that cannot finish before the timeout would fail on every receive: once scoring has run this long,
# a projection past the time left (less a margin to write the output) is reported as too large, at once.
PROJECT_AFTER_S = 10.0
OUTPUT_MARGIN_S = 5.0

logger = get_logger()
# A batch reads much more than a request: longer socket timeouts, one more attempt, and no total deadline
# (the function's timeout bounds an object, and the message comes back if it is hit).
S3 = boto3.session.Session().client("s3", config=Config(
    connect_timeout=float(os.environ.get("S3_CONNECT_TIMEOUT", "2")),
    read_timeout=float(os.environ.get("BATCH_S3_READ_TIMEOUT", "20")),
    retries={"total_max_attempts": 3, "mode": "standard"}))
ALLOWED = allowed_buckets()
LIMITS = batch.Limits(MAX_OBJECT_BYTES, MAX_CSV_BYTES, MAX_JSON_BYTES, MAX_ROWS, MODEL.n_features, VALUE_RANGE)
# Whole-batch failure is still reported item by item: the mapping then retries every message, as it should.
PROCESSOR = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
PREFETCH = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-prefetch")
_invocation: dict[str, Any] = {"context": None}  # the running invocation's context, for its deadline


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Score every object the messages name; returns {"batchItemFailures": [...]} for the transient failures."""
    _invocation["context"] = context
    return process_partial_response(event=event, record_handler=_record, processor=PROCESSOR, context=context)


def _record(record: SQSRecord) -> None:
    try:
        message = json.loads(record.body)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        logger.warning("message is not an S3 event notification; acknowledged", extra={"request_id": record.message_id})
        return
    if message.get("Event") == "s3:TestEvent":  # sent once when the notification is configured
        logger.info("s3:TestEvent acknowledged", extra={"request_id": record.message_id})
        return
    for entry in message.get("Records") or []:
        if str(entry.get("eventName", "")).startswith("ObjectCreated"):
            s3 = entry.get("s3") or {}
            bucket, key = (s3.get("bucket") or {}).get("name", ""), (s3.get("object") or {}).get("key", "")
            score_object(bucket, unquote_plus(key), record.message_id)


def score_object(bucket: str, key: str, request_id: str) -> None:
    """Write predictions/ or errors/ for one incoming object; raises only for failures worth retrying."""
    started = time.perf_counter()
    fields: dict[str, Any] = {"request_id": request_id, "source": "sqs", "bucket": bucket, "rows": 0}
    path = key[len(INCOMING):]
    # The notification only covers incoming/ of the data bucket: anything else must never be scored (or written).
    if bucket not in ALLOWED or not key.startswith(INCOMING) or not path:
        logger.warning("ignored: not an object under incoming/ of the data bucket", extra=fields)
        return
    # Some HTTP layers normalise dot segments: "predictions/../incoming/x" must never become a write to incoming/.
    if any(part in (".", "..") for part in key.split("/")):
        logger.warning("ignored: the key has '.' or '..' segments; rename the object", extra=fields)
        return
    if len(f"{PREDICTIONS}{path}.json".encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
        logger.error("ignored: the output key would exceed S3's 1024 bytes; shorten the input key", extra=fields)
        return
    source: dict[str, Any] = {"bucket": bucket, "key": key, "etag": None}
    seen: dict[str, float] = {}
    try:
        predictions = _score(bucket, key, source, seen)
        fields.update(rows=len(predictions), status=200)
        _put(bucket, f"{PREDICTIONS}{path}.json", {"predictions": predictions.tolist(), "count": len(predictions),
                                                   "model": MODEL_INFO, "source": source})
        METRICS.object_scored(len(predictions), _lag(seen))
    except TRANSIENT as exc:
        fields.update(status=exc.status, error_type=type(exc).__name__)
        logger.warning(f"transient failure, the message will be retried: {exc}", extra=fields)
        raise
    except RequestError as exc:  # the object itself is at fault: retrying cannot help
        fields.update(status=exc.status, error_type=type(exc).__name__)
        _put(bucket, f"{ERRORS}{path}.json", {"error": str(exc), "status": exc.status, "source": source})
        METRICS.object_failed(_lag(seen))
    except Exception:
        fields.update(status=500)
        logger.exception("unexpected error, the message will be retried", extra=fields)
        raise
    finally:
        fields["ms"] = round((time.perf_counter() - started) * 1000, 2)
        logger.info("batch object", extra=fields)


def _lag(seen: dict[str, float]) -> float:
    """Seconds from the object's creation (S3's LastModified) to now, when its outcome is written."""
    return max(0.0, time.time() - seen["created"]) if "created" in seen else 0.0


def _score(bucket: str, key: str, source: dict[str, Any], seen: dict[str, float]) -> np.ndarray:
    head = _s3(S3.head_object, Bucket=bucket, Key=key)
    if head.get("LastModified") is not None:
        seen["created"] = head["LastModified"].timestamp()
    size, etag = int(head["ContentLength"]), head["ETag"]
    source["etag"] = etag.strip('"')
    if key.lower().endswith(".npy"):
        length = min(size, npystream.HEAD_BYTES)
        first = _open(bucket, key, etag, 0, length - 1)(length) if size else b""
        layout = npystream.read_layout(first, size, MODEL.n_features)
        if not layout.fortran_order or layout.shape[0] == 1:
            return _score_stream(layout, lambda lo, hi: _open(bucket, key, etag, lo, hi))
        # Column-major rows are not contiguous in the object: such a file is read whole, within the API's limit.
    if size > MAX_OBJECT_BYTES:
        hint = "; save it with np.save(path, np.ascontiguousarray(rows)) to stream it" if key.lower().endswith(".npy") else \
            "; send large batches as .npy, which is streamed"
        raise TooLarge(f"the object is {size} bytes; the limit is {MAX_OBJECT_BYTES}{hint}")
    data = _open(bucket, key, etag, 0, size - 1)(size) if size else b""
    rows = image_rows([data]) if key.lower().endswith(IMAGE_SUFFIXES) else batch.from_object(key, data, LIMITS)
    return MODEL.predict(batch.validate(rows, MODEL.n_features, MAX_ROWS, VALUE_RANGE))


def _score_stream(layout: npystream.NpyLayout, open_range: npystream.OpenRange) -> np.ndarray:
    predictions = np.empty(layout.shape[0], dtype=MODEL.classes.dtype)
    done, started = 0, time.perf_counter()
    for chunk in npystream.iter_chunks(layout, open_range, PREFETCH):
        try:
            rows = batch.validate(chunk, MODEL.n_features, len(chunk), VALUE_RANGE)
        except InvalidRows as exc:
            raise InvalidRows(f"rows {done}-{done + len(chunk) - 1}: {exc}") from None
        predictions[done:done + len(chunk)] = MODEL.predict(rows)
        done += len(chunk)
        _check_deadline(done, layout.shape[0], time.perf_counter() - started)
    return predictions


def _check_deadline(done: int, rows: int, elapsed: float) -> None:
    context = _invocation["context"]
    if context is None or elapsed < PROJECT_AFTER_S or done == rows:
        return
    left_s = context.get_remaining_time_in_millis() / 1000 - OUTPUT_MARGIN_S
    rate = done / elapsed
    if (rows - done) / rate > left_s:
        fits = int(rate * (elapsed + left_s))
        raise TooLarge(f"{rows} rows would take about {rows / rate:.0f} s, more than the batch function's timeout "
                       f"allows; split the file into objects of at most {fits} rows (or raise batchTimeout)")


def _open(bucket: str, key: str, etag: str, first: int, last: int) -> Callable[[int], bytes]:
    """A reader of exactly n more bytes per call from one ranged GET of the object."""
    # IfMatch pins every range to the version whose header was read: a replaced object fails (and is retried,
    # reading the new version) rather than mixing two versions' rows.
    body = _s3(S3.get_object, Bucket=bucket, Key=key, Range=f"bytes={first}-{last}", IfMatch=etag)["Body"]

    def read(n: int) -> bytes:
        try:
            data = body.read(n)
        except (BotoCoreError, OSError) as exc:  # botocore wraps urllib3's dropped connections and timeouts
            raise UpstreamTimeout(f"reading the object from S3 failed ({type(exc).__name__})") from None
        if len(data) != n:
            raise UpstreamError("the object was truncated while it was read")
        return data

    return read


def _s3(call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            raise UpstreamError("the object changed while it was read; the newer version is read on retry") from None
        raise _client_error(exc) from None
    except (ConnectTimeoutError, ReadTimeoutError, ConnectionError) as exc:
        raise UpstreamTimeout(f"S3 did not answer in time ({type(exc).__name__})") from None
    except BotoCoreError as exc:
        raise UpstreamError(f"S3 failed ({type(exc).__name__})") from None


def _put(bucket: str, key: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    _s3(S3.put_object, Bucket=bucket, Key=key, Body=body, ContentType="application/json")
