"""Lambda entry point: API Gateway HTTP API (payload 2.0) `POST /predict` -> digit predictions as JSON."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import batch
from errors import BadRequest, MethodNotAllowed, RequestError, TooLarge, UnsupportedFormat
from knn import KnnModel
from logs import get_logger
from metrics import from_environment as metrics_emitter
from source import S3Source

logger = get_logger()
METRICS = metrics_emitter()

MODEL_DIR = Path(os.environ.get("MODEL_DIR", Path(__file__).resolve().parent / "model"))
MAX_BODY_BYTES = int(os.environ.get("MAX_BODY_BYTES", 6 * 1024 * 1024))  # Lambda's synchronous payload cap
MAX_OBJECT_BYTES = int(os.environ.get("MAX_OBJECT_BYTES", 64 * 1024 * 1024))
MAX_CSV_BYTES = int(os.environ.get("MAX_CSV_BYTES", 16 * 1024 * 1024))
# A JSON float costs a 24-byte object once parsed: 6 MB (the inline cap) keeps the worst case inside 256 MB.
MAX_JSON_BYTES = int(os.environ.get("MAX_JSON_BYTES", 6 * 1024 * 1024))
MAX_ROWS = int(os.environ.get("MAX_ROWS", 10_000))
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 - 1024  # Lambda's response cap, less room for the envelope


def load_model(folder: Path) -> tuple[KnnModel, dict[str, Any]]:
    """Load the artifact after checking its sha256 against metadata.json."""
    metadata = json.loads((folder / "metadata.json").read_text())
    artifact = (folder / metadata["artifact"]).read_bytes()
    digest = hashlib.sha256(artifact).hexdigest()
    if digest != metadata["sha256"]:
        raise ValueError(f"{metadata['artifact']} has sha256 {digest[:12]}…, metadata.json expects "
                         f"{metadata['sha256'][:12]}…; retrain with python -m training")
    model = KnnModel.load(io.BytesIO(artifact))
    info = {"dataset": metadata["dataset"], "sha256": metadata["sha256"], "n_features": model.n_features,
            **{key: metadata["model"][key] for key in ("type", "n_components", "k")}}
    return model, info


try:
    MODEL, MODEL_INFO = load_model(MODEL_DIR)
    S3 = S3Source(MAX_OBJECT_BYTES)
except Exception as exc:  # fail the init, loudly and on one line, rather than at the first request
    logger.critical(f"cannot start: model folder {MODEL_DIR} is unusable: {type(exc).__name__}: {exc}")
    sys.exit(1)
METRICS.mark_ready()


def _response(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json", **(headers or {})},
            "body": json.dumps(payload, separators=(",", ":"))}


def _body(event: dict[str, Any]) -> str:
    http = (event.get("requestContext") or {}).get("http") or {}
    if http.get("method", "POST") != "POST":
        raise MethodNotAllowed(f"{http.get('method')} is not allowed; use POST with a JSON body")
    content_type = ((event.get("headers") or {}).get("content-type") or "application/json").split(";")[0].strip()
    if content_type.lower() != "application/json":
        raise UnsupportedFormat(f"content type {content_type[:80]!r} is not supported; send application/json")
    body = event.get("body") or ""
    if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes; put the batch in S3 and send its bucket and key")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest("the body is not valid base64-encoded UTF-8") from None
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes; put the batch in S3 and send its bucket and key")
    if not body.strip():
        raise BadRequest('the body is empty; send {"bucket": ..., "key": ...} or {"instances": [[...]]}')
    return body


def _rows(request: dict[str, Any], raw: str, fields: dict[str, Any]) -> np.ndarray:
    keys = set(request)
    if keys == {"instances"}:
        fields["source"] = "inline"
        return batch.from_instances(request["instances"], raw)
    if keys == {"bucket", "key"}:
        fields["source"] = "s3"
        bucket, key = S3.check(request["bucket"], request["key"])
        limits = batch.Limits(MAX_OBJECT_BYTES, MAX_CSV_BYTES, MAX_JSON_BYTES, MAX_ROWS, MODEL.n_features)
        return batch.from_object(key, S3.read(bucket, key), limits)
    raise BadRequest('send exactly one input: {"bucket": ..., "key": ...} or {"instances": [[...]]}; '
                     f"got fields {sorted(keys)[:5]}")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Predict digits for the rows named or carried by the request; every outcome is a JSON response."""
    started = time.perf_counter()
    fields: dict[str, Any] = {"request_id": getattr(context, "aws_request_id", "-"), "source": "-", "rows": 0}
    try:
        raw = _body(event if isinstance(event, dict) else {})
        rows = batch.validate(_rows(batch.parse_body(raw, MAX_ROWS), raw, fields), MODEL.n_features, MAX_ROWS)
        fields["rows"] = len(rows)
        predictions = MODEL.predict(rows).tolist()
        response = _response(200, {"predictions": predictions, "count": len(predictions), "model": MODEL_INFO})
        if len(response["body"]) > MAX_RESPONSE_BYTES:
            raise TooLarge("the response would exceed Lambda's 6 MB limit; send fewer rows per request")
    except RequestError as exc:
        headers = {"allow": "POST"} if isinstance(exc, MethodNotAllowed) else None
        response = _response(exc.status, {"error": str(exc)}, headers)
        fields["error_type"] = type(exc).__name__
    except Exception:
        logger.exception("unexpected error", extra=fields)
        response = _response(500, {"error": "internal error; the request id is in the function's logs"})
    fields.update(status=response["statusCode"], ms=round((time.perf_counter() - started) * 1000, 2))
    logger.info("predict", extra=fields)
    try:
        METRICS.request(fields["source"], fields["status"], fields["rows"], fields["ms"])
    except Exception:  # a metric is never worth a failed response
        logger.warning("could not write metrics", exc_info=True)
    return response
