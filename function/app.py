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
from errors import BadRequest, InvalidRows, MethodNotAllowed, RequestError, TooLarge, UnsupportedFormat, clip
from knn import KnnModel
from logs import get_logger
from metrics import from_environment as metrics_emitter
from normalise import for_model
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
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # an S3 object with one of these is one digit image
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
            **{key: metadata["model"][key] for key in ("type", "n_components", "k")},
            "value_range": _value_range(metadata)}
    return model, info


def _value_range(metadata: dict[str, Any]) -> list[float]:
    """The feature range training recorded; a model folder written before it was recorded gets 0-255."""
    low, high = metadata.get("value_range", batch.DEFAULT_RANGE)
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
        raise ValueError(f"metadata.json value_range must be [low, high] numbers, got {clip(metadata['value_range'])}")
    return [low, high]


try:
    MODEL, MODEL_INFO = load_model(MODEL_DIR)
    VALUE_RANGE: tuple[float, float] = tuple(MODEL_INFO["value_range"])
    NORMALISATION = for_model(json.loads((MODEL_DIR / "metadata.json").read_text()))
    S3 = S3Source(MAX_OBJECT_BYTES)
except Exception as exc:  # fail the init, loudly and on one line, rather than at the first request
    logger.critical(f"cannot start: model folder {MODEL_DIR} is unusable: {type(exc).__name__}: {exc}")
    sys.exit(1)
METRICS.mark_ready()


def _response(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    body = json.dumps(payload, separators=(",", ":"))
    # Checked here so that no path, an error's included, can answer past Lambda's cap (a 502 for the caller).
    if len(body) > MAX_RESPONSE_BYTES:
        if status == 200:
            status, error = 413, "the response would exceed Lambda's 6 MB limit; send fewer rows per request"
        else:
            error = str(payload.get("error"))[:200] + "… (message cut)"
        body = json.dumps({"error": error}, separators=(",", ":"))
    return {"statusCode": status, "headers": {"content-type": "application/json", **(headers or {})}, "body": body}


# What a body is when it is not text: said by name, since "not UTF-8" does not tell the caller what to do.
_BINARY_BODIES = ((b"\x93NUMPY", "a .npy file"), (b"PK\x03\x04", "a zip (.npz) file"), (b"\x80", "a pickle"),
                  (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"))
_SEND_HELP = 'upload the file to the bucket and send {"bucket": ..., "key": ...}, or send {"instances": [[...]]}'


def _decode(data: bytes) -> str:
    """A base64-decoded body as text: UTF-8 only, and binary files named rather than reported as bad text."""
    kind = next((name for magic, name in _BINARY_BODIES if data.startswith(magic)), None)
    if kind is not None:
        raise UnsupportedFormat(f"the body is {kind}, not JSON; {_SEND_HELP}")
    try:
        return batch.utf8_only(data, "the body").decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"the body is neither JSON nor UTF-8 text; {_SEND_HELP}") from None


def _check_content_type(header: str) -> None:
    content_type, *parameters = header.split(";")
    if content_type.strip().lower() != "application/json":
        raise UnsupportedFormat(f"content type {clip(content_type.strip(), 80)} is not supported; send "
                                f"application/json. For a file: {_SEND_HELP}")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedFormat(f"charset {clip(value.strip(), 40)} is not supported; send UTF-8 JSON")


def _body(event: dict[str, Any]) -> str:
    http = (event.get("requestContext") or {}).get("http") or {}
    if http.get("method", "POST") != "POST":
        raise MethodNotAllowed(f"{clip(http.get('method'), 20)} is not allowed; use POST with a JSON body")
    _check_content_type((event.get("headers") or {}).get("content-type") or "application/json")
    body = event.get("body") or ""
    if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes; put the batch in S3 and send its bucket and key")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise BadRequest("the body is marked base64-encoded but is not valid base64") from None
        body = _decode(data)
    body = body.removeprefix("\ufeff")  # a UTF-8 byte-order mark, accepted as in .json and .csv objects
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes; put the batch in S3 and send its bucket and key")
    if not body.strip():
        raise BadRequest('the body is empty; send {"bucket": ..., "key": ...} or {"instances": [[...]]}')
    return body


def image_rows(files: list[bytes] | None = None, encoded: object = None,
                raw_event: dict[str, Any] | None = None) -> np.ndarray:
    """Image files, the request's base64 "images", or a raw image body, as rows normalised like the training images."""
    import image  # only now: Pillow stays out of the cold start of row requests

    if NORMALISATION is None:
        raise InvalidRows(f"this model was trained on rows of {MODEL.n_features} values of an unknown layout, so "
                          "it cannot read images; retrain with python -m training --dataset mnist or digits")
    if raw_event is not None:
        content_type = (raw_event.get("headers") or {}).get("content-type", "").split(";")[0].strip().lower()
        files = [image.from_body(raw_event, content_type, MAX_BODY_BYTES)]
    return image.to_rows(image.from_base64(encoded) if files is None else files, NORMALISATION)


def _options(request: dict[str, Any], query: str = "") -> dict[str, bool]:
    """The optional extras: "scores" (vote shares) and "inputs" (the rows the model saw); JSON or query string."""
    from urllib.parse import parse_qs

    options = {name: request.pop(name) for name in ("scores", "inputs") if name in request}
    for name, values in parse_qs(query).items():
        if name in ("scores", "inputs"):
            options[name] = {"true": True, "false": False}.get(values[-1], values[-1])
    for name, value in options.items():
        if not isinstance(value, bool):
            raise BadRequest(f'"{name}" must be true or false')
    return options


def _page() -> dict[str, Any]:
    """GET /: the drawing page (routed only when the API is public; with IAM auth it is local only)."""
    html = (Path(__file__).resolve().parent / "page.html").read_text()
    # The page talks to this API only: nothing else may load or connect, whatever a user pastes into it.
    policy = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
              "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
    return {"statusCode": 200, "headers": {"content-type": "text/html; charset=utf-8",
                                           "content-security-policy": policy, "cache-control": "no-cache"},
            "body": html}


def _rows(request: dict[str, Any], raw: str, fields: dict[str, Any]) -> np.ndarray:
    keys = set(request)
    if keys == {"instances"}:
        fields["source"] = "inline"
        return batch.from_instances(request["instances"], raw)
    if keys == {"images"}:
        fields["source"] = "image"  # one label for every image input: metrics.SOURCES counts by it
        return image_rows(encoded=request["images"])
    if keys == {"bucket", "key"}:
        fields["source"] = "s3"
        bucket, key = S3.check(request["bucket"], request["key"])
        if key.lower().endswith(IMAGE_SUFFIXES):
            return image_rows([S3.read(bucket, key)])
        limits = batch.Limits(MAX_OBJECT_BYTES, MAX_CSV_BYTES, MAX_JSON_BYTES, MAX_ROWS, MODEL.n_features,
                              VALUE_RANGE)
        return batch.from_object(key, S3.read(bucket, key), limits)
    raise BadRequest('send exactly one input: {"bucket": ..., "key": ...}, {"instances": [[...]]} or '
                     f'{{"images": [...]}}; got fields {", ".join(clip(key) for key in sorted(keys)[:5])}')


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Predict digits for the rows named or carried by the request; every outcome is a JSON response."""
    started = time.perf_counter()
    fields: dict[str, Any] = {"request_id": getattr(context, "aws_request_id", "-"), "source": "-", "rows": 0}
    try:
        event = event if isinstance(event, dict) else {}
        http = (event.get("requestContext") or {}).get("http") or {}
        if http.get("method") in ("GET", "HEAD") and event.get("rawPath") == "/":
            fields["source"] = "page"
            response = _page()
            fields.update(status=200, ms=round((time.perf_counter() - started) * 1000, 2))
            logger.info("page", extra=fields)
            return response
        content_type = ((event.get("headers") or {}).get("content-type") or "").split(";")[0].strip().lower()
        if content_type.startswith("image/") and http.get("method", "POST") == "POST":
            fields["source"] = "image"
            options = _options({}, event.get("rawQueryString") or "")
            found = image_rows(raw_event=event)
        else:
            raw = _body(event)
            request = batch.parse_body(raw, MAX_ROWS)
            options = _options(request)
            # The rows' boolean check reads the raw text, where "scores": true would look like a boolean pixel.
            found = _rows(request, json.dumps(request.get("instances")) if options else raw, fields)
        rows = batch.validate(found, MODEL.n_features, MAX_ROWS, VALUE_RANGE)
        fields["rows"] = len(rows)
        payload: dict[str, Any] = {}
        if options.get("scores"):
            dist, idx = MODEL.kneighbors(rows)
            predictions = MODEL.vote(dist, idx).tolist()
            payload["scores"] = np.round(MODEL.scores(dist, idx), 4).tolist()
        else:
            predictions = MODEL.predict(rows).tolist()
        if options.get("inputs"):
            payload["inputs"] = np.asarray(rows, dtype=np.float32).round().astype(np.int64).tolist()
            payload["input_shape"] = [NORMALISATION.size] * 2 if NORMALISATION else [MODEL.n_features]
        # _response() turns a 200 over Lambda's cap into a 413.
        response = _response(200, {"predictions": predictions, "count": len(predictions), "model": MODEL_INFO,
                                   **payload})
    except RequestError as exc:
        headers = {"allow": "POST"} if isinstance(exc, MethodNotAllowed) else None
        response = _response(exc.status, {"error": str(exc)}, headers)
        fields["error_type"] = type(exc).__name__
    except Exception:
        logger.exception("unexpected error", extra=fields)
        response = _response(500, {"error": "internal error; the request id is in the function's logs"})
    fields.update(status=response["statusCode"], ms=round((time.perf_counter() - started) * 1000, 2))
    logger.info("predict", extra=fields)
    METRICS.request(fields["source"], fields["status"], fields["rows"], fields["ms"])  # never raises
    return response
