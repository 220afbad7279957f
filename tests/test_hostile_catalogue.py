"""Hostile input catalogue for the handler: each case gets its exact status and a JSON error, then a good request works.

HTTP-level cases (body sizes, paths, methods, raw headers) are in test_hostile_http.py, against the local API.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import hostile
import hostile_images
from conftest import DATA_BUCKET, LambdaContext, load_event

GOOD_ROW = [0] * 64
ROW = [3] * 64
Case = Callable[[object, Path], tuple[object, dict]]  # (s3, tmp) -> (body, event changes)


def body(value: object, **changes: object) -> Case:
    """A case sending this body (a string is sent as-is)."""
    return lambda s3, tmp: (value, changes)


def obj(key: str, make: Callable[[Path], bytes]) -> Case:
    """A case naming an S3 object created from `make(tmp)`."""
    def case(s3, tmp: Path) -> tuple[object, dict]:
        s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=make(tmp))
        return {"bucket": DATA_BUCKET, "key": key}, {}
    return case


def ref(key: str, bucket: str = DATA_BUCKET) -> Case:
    """A case naming a bucket and key without creating anything."""
    return body({"bucket": bucket, "key": key})


def raw64(data: bytes) -> Case:
    """A case whose body arrives base64-encoded, as API Gateway sends non-text bodies."""
    return body(base64.b64encode(data).decode(), isBase64Encoded=True)


CATALOGUE: dict[str, tuple[Case, int]] = {
    # malformed, empty, non-object and deeply nested JSON
    "truncated JSON": (body('{"instances": [[0, 1'), 400),
    "empty body": (body(""), 400),
    "whitespace body": (body("  \n\t "), 400),
    "JSON null": (body("null"), 400),
    "JSON array": (body("[[0, 1]]"), 400),
    "JSON string": (body('"predict"'), 400),
    "JSON number": (body("42"), 400),
    "nested 100k deep": (body("[" * 100_000 + "]" * 100_000), 400),
    "object nested 100k deep": (body('{"a":' * 100_000 + "1" + "}" * 100_000), 400),
    "instances nested 5,000 deep (under the bracket cap)": (
        body('{"instances": ' + "[" * 5_000 + "]" * 5_000 + "}"), 400),
    "rows nested 40 deep": (body({"instances": json.loads("[" * 40 + "1" + "]" * 40)}), 422),
    "invalid base64": (body("%%%not-base64%%%", isBase64Encoded=True), 400),
    "base64 of invalid UTF-8": (raw64(b"\xff\xfe\xfd"), 400),
    "trailing garbage": (body('{"instances": [[0]]} x'), 400),
    # wrong types
    "instances is a string": (body({"instances": "0,0,0"}), 422),
    "instances is an object": (body({"instances": {"0": GOOD_ROW}}), 422),
    "instances is null": (body({"instances": None}), 422),
    "bucket is a number": (body({"bucket": 7, "key": "a.npy"}), 400),
    "key is a list": (body({"bucket": DATA_BUCKET, "key": ["a.npy"]}), 400),
    "empty bucket name": (body({"bucket": "", "key": "a.npy"}), 400),
    # both or neither input
    "neither input": (body({}), 400),
    "both inputs": (body({"bucket": DATA_BUCKET, "key": "a.npy", "instances": [GOOD_ROW]}), 400),
    "key without bucket": (body({"key": "a.npy"}), 400),
    "misspelt field": (body({"instance": [GOOD_ROW]}), 400),
    # shapes and values
    "too few features": (body({"instances": [ROW[:63]]}), 422),
    "too many features": (body({"instances": [ROW + [0]]}), 422),
    "ragged rows": (body({"instances": [ROW, ROW[:10]]}), 422),
    "NaN literal": (body('{"instances": [[NaN' + ", 0" * 63 + "]]}"), 422),
    "Infinity literal": (body('{"instances": [[Infinity' + ", 0" * 63 + "]]}"), 422),
    "overflowing float": (body('{"instances": [[1e999' + ", 0" * 63 + "]]}"), 422),
    "negative pixel": (body({"instances": [[-1] + ROW[1:]]}), 422),
    "pixel over 255": (body({"instances": [[256] + ROW[1:]]}), 422),
    "huge integer": (body({"instances": [[10**30] + ROW[1:]]}), 422),
    "string pixel": (body({"instances": [["7"] + ROW[1:]]}), 422),
    "boolean pixel": (body({"instances": [[True] + ROW[1:]]}), 422),
    "boolean among floats": (body({"instances": [[False, 1.5] + ROW[2:]]}), 422),
    "null pixel": (body({"instances": [[None] + ROW[1:]]}), 422),
    "single flat row": (body({"instances": ROW}), 422),
    "3-D batch": (body({"instances": [[ROW]]}), 422),
    "empty batch": (body({"instances": []}), 422),
    "batch of empty rows": (body({"instances": [[]]}), 422),
    "over the row limit": (body({"instances": [GOOD_ROW] * 10_001}), 413),
    "inline body over Lambda's 6 MB": (body({"instances": [[255.123456] * 64] * 9_000}), 413),
    # content types and methods
    "text/plain": (body({"instances": [ROW]}, headers={"content-type": "text/plain"}), 415),
    "form encoded": (body("instances=1", headers={"content-type": "application/x-www-form-urlencoded"}), 415),
    "multipart": (body({"instances": [ROW]}, headers={"content-type": "multipart/form-data; boundary=x"}), 415),
    "JSON lookalike type": (body({"instances": [ROW]}, headers={"content-type": "application/json-patch+json"}), 415),
    "GET": (lambda s3, tmp: (None, load_event("get_predict.json")), 405),
    "DELETE": (body({}, requestContext={"http": {"method": "DELETE", "path": "/predict"}}), 405),
    # keys
    "NUL in key": (ref("batch\x00.npy"), 400),
    "newline in key": (ref("batch\n.npy"), 400),
    "unicode key (missing)": (ref("données/批次 🚀.npy"), 404),
    "parent traversal": (ref("../other-bucket/x.npy"), 400),
    "nested traversal": (ref("batches/../../x.npy"), 400),
    "dot segment": (ref("batches/./x.npy"), 400),
    "percent-encoded traversal (literal key, missing)": (ref("%2e%2e/x.npy"), 404),
    "key over 1024 bytes": (ref("k" * 1100 + ".npy"), 400),
    # buckets and objects
    "bucket not allowed": (ref("x.npy", bucket="someone-elses-data"), 403),
    "lookalike bucket": (ref("x.npy", bucket=DATA_BUCKET + "-evil"), 403),
    "bucket in capitals": (ref("x.npy", bucket=DATA_BUCKET.upper()), 403),
    "traversal in the bucket name": (ref("x.npy", bucket=f"../{DATA_BUCKET}"), 403),
    "duplicate bucket field, last one not allowed": (
        body('{"bucket": "%s", "key": "x.npy", "bucket": "someone-elses-data"}' % DATA_BUCKET), 403),
    "ARN as bucket": (ref("x.npy", bucket=f"arn:aws:s3:::{DATA_BUCKET}"), 403),
    "missing object": (ref("nowhere/missing.npy"), 404),
    "object over the 64 MiB limit": (obj("h/big.npy", lambda tmp: bytes(64 * 1024 * 1024 + 1)), 413),
    "zero-byte .npy": (obj("h/zero.npy", lambda tmp: b""), 422),
    "truncated .npy": (obj("h/cut.npy", lambda tmp: hostile.npy(np.zeros((50, 64)))[:300]), 422),
    "garbage after .npy magic": (obj("h/magic.npy", lambda tmp: b"\x93NUMPY\x01\x00" + b"\xff" * 100), 422),
    "structured .npy": (obj("h/struct.npy", lambda tmp: hostile.npy(np.zeros(3, dtype=[("a", "u1")]))), 415),
    ".npz zip bomb (2 GiB declared, 2 MB sent)": (obj("h/bomb.npz", lambda tmp: hostile.declared_zip_bomb()), 413),
    ".npz zip bomb with a lying header (4 KiB declared)": (obj("h/liar.npz", lambda tmp: hostile.lying_zip_bomb()), 422),
    "bzip2 .npz member, 312 bytes inflating to 256 MiB": (obj("h/bz2.npz", lambda tmp: hostile.bzip2_zip_bomb()), 415),
    "LZMA .npz member": (obj("h/lzma.npz", lambda tmp: hostile.zip_member(b"\x09\x04\x05\x00junk", method=14)), 415),
    "complex .npy": (obj("h/complex.npy", lambda tmp: hostile.npy(np.ones((1, 64), np.complex64))), 422),
    "boolean .npy": (obj("h/bool.npy", lambda tmp: hostile.npy(np.ones((1, 64), bool))), 422),
    "datetime .npy": (obj("h/dates.npy", lambda tmp: hostile.npy(np.zeros((1, 64), "datetime64[s]"))), 422),
    "string .npy": (obj("h/str.npy", lambda tmp: hostile.npy(np.full((1, 64), "7"))), 422),
    ".npy header declaring 2**60 elements": (obj("h/huge.npy", lambda tmp: hostile.huge_npy_header()), 422),
    "object-dtype X inside .npz": (obj("h/objx.npz", lambda tmp: zipped_npy(hostile.object_npy_canary(tmp / "pwned"))),
                                   415),
    ".npz without X": (obj("h/nox.npz", lambda tmp: hostile.npz(rows=np.zeros((2, 64)))), 422),
    ".npz that is not a zip": (obj("h/fake.npz", lambda tmp: b"PK\x03\x04 not really"), 422),
    "CSV with text": (obj("h/text.csv", lambda tmp: b"1,2,3\n4,five,6\n"), 422),
    "CSV single huge line": (obj("h/line.csv", lambda tmp: ",".join(["1"] * 200_000).encode()), 422),
    "CSV with NaN": (obj("h/nan.csv", lambda tmp: (",".join(["nan"] + ["1"] * 63) + "\n").encode()), 422),
    "CSV header only": (obj("h/header.csv", lambda tmp: b"a,b,c\n"), 422),
    "CSV not UTF-8": (obj("h/latin.csv", lambda tmp: "é,1\n".encode("latin-1")), 422),
    "JSON object file": (obj("h/obj.json", lambda tmp: b'{"rows": [[0]]}'), 422),
    "JSON file truncated": (obj("h/cut.json", lambda tmp: b"[[0, 1,"), 422),
    "object .npy canary": (obj("h/canary.npy", lambda tmp: hostile.object_npy_canary(tmp / "pwned")), 415),
    ".joblib canary (joblib.dump)": (obj("h/canary.joblib", lambda tmp: hostile.joblib_canary(tmp / "pwned")), 415),
    "os.system canary as .pkl": (obj("h/shell.pkl", lambda tmp: hostile.shell_canary(tmp / "pwned")), 415),
    "pickle named .csv": (obj("h/canary.csv", lambda tmp: hostile.pickled_canary(tmp / "pwned")), 415),
    "protocol-0 pickle named .npy": (obj("h/proto0.npy", lambda tmp: hostile.protocol0_canary(tmp / "pwned")), 422),
    "protocol-0 pickle named .json": (obj("h/proto0.json", lambda tmp: hostile.protocol0_canary(tmp / "pwned")), 422),
    ".pkl canary": (obj("h/canary.pkl", lambda tmp: hostile.pickled_canary(tmp / "pwned")), 415),
    "pickle named .json": (obj("h/canary.json", lambda tmp: hostile.pickled_canary(tmp / "pwned")), 415),
    "pickle named .npy": (obj("h/canary2.npy", lambda tmp: hostile.pickled_canary(tmp / "pwned")), 415),
    "unknown suffix": (obj("h/rows.parquet", lambda tmp: b"PAR1"), 415),
    "no suffix": (obj("h/rows", lambda tmp: hostile.npy(np.zeros((1, 64)))), 415),
    # issue 15, item 2: integers past Python's 4,300-digit conversion limit
    "4,400-digit integer as a field": (body('{"x": ' + "9" * 4_400 + "}"), 400),
    "4,400-digit integer as a pixel": (body('{"instances": [[' + "9" * 4_400 + ", 0" * 63 + "]]}"), 400),
    ".json object with a 5,000-digit integer": (obj("h/digits.json", lambda tmp: b"[[" + b"9" * 5_000 + b"]]"), 422),
    # item 3: damaged and encrypted .npz
    ".npz with a damaged deflate stream": (obj("h/zlib.npz", lambda tmp: hostile.corrupt_deflate_npz()), 422),
    ".npz with the encryption flag set": (obj("h/locked.npz", lambda tmp: hostile.encrypted_npz()), 415),
    # item 4: a stored (uncompressed) member near the object limit is refused from its header, not after copies
    "stored .npz of 1,000,000 rows (64 MB)": (
        obj("h/stored.npz", lambda tmp: hostile.stored_npz(X=np.zeros((1_000_000, 64), np.uint8))), 413),
    # item 5: echoed values are bounded
    "6 MB field name of DEL bytes": (body('{"' + "\x7f" * (6 * 1024 * 1024 - 64) + '": 1}'), 400),
    "1 MB method name": (body({}, requestContext={"http": {"method": "P" * 1_000_000, "path": "/predict"}}), 405),
    "900-character suffix": (obj("h/rows." + "z" * 900, lambda tmp: b"1"), 415),
    "content type of 1 MB": (body({"instances": [ROW]}, headers={"content-type": "x" * 1_000_000}), 415),
    # item 6: UTF-8 (with or without a byte-order mark) only, decided before parsing
    "UTF-16 .json with booleans": (obj("h/u16.json", lambda tmp: json.dumps([[True] * 64]).encode("utf-16")), 415),
    "UTF-16 .json without a byte-order mark": (
        obj("h/u16le.json", lambda tmp: json.dumps([GOOD_ROW]).encode("utf-16-le")), 415),
    "UTF-32 .json": (obj("h/u32.json", lambda tmp: json.dumps([GOOD_ROW]).encode("utf-32")), 415),
    "UTF-16 .csv": (obj("h/u16.csv", lambda tmp: ",".join(["1"] * 64).encode("utf-16")), 415),
    "UTF-16 JSON body": (raw64(json.dumps({"instances": [[True] * 64]}).encode("utf-16")), 415),
    "UTF-32 JSON body without a byte-order mark": (raw64(json.dumps({"instances": [GOOD_ROW]}).encode("utf-32-be")),
                                                   415),
    "charset=utf-16 content type": (body({"instances": [GOOD_ROW]},
                                         headers={"content-type": "application/json; charset=utf-16"}), 415),
    # item 7: as many predictions as data rows, or a refusal
    "CSV row of empty cells": (obj("h/empty.csv", lambda tmp: ("," * 63 + "\n" + ",".join(["1"] * 64)).encode()), 422),
    "CSV row commented out with #": (
        obj("h/comment.csv", lambda tmp: ("#" + ",".join(["1"] * 64) + "\n" + ",".join(["1"] * 64)).encode()), 422),
    "CSV cell 1#5 ending a row": (obj("h/hash.csv", lambda tmp: ",".join(["1"] * 63 + ["1#5"]).encode()), 422),
    "CSV first line mixing names and numbers": (
        obj("h/mixed.csv", lambda tmp: (",".join(["label"] + ["1"] * 63) + "\n" + ",".join(["1"] * 64)).encode()),
        422),
    "CSV empty cell in a data row": (
        obj("h/hole.csv", lambda tmp: (",".join(["1"] * 64) + "\n" + ",".join(["1"] * 63 + [""])).encode()), 422),
    # item 8: rows are checked against the range the model was trained on (digits: 0-16)
    "pixel 17 for a 0-16 model": (body({"instances": [[17] + ROW[1:]]}), 422),
    "uint8 .npy of 0-255 pixels for a 0-16 model": (
        obj("h/u8.npy", lambda tmp: hostile.npy(np.full((2, 64), 200, np.uint8))), 422),
    # item 9: members as numpy resolves them
    ".npz holding both X and X.npy": (
        obj("h/twox.npz", lambda tmp: hostile.zip_of([("X", hostile.npy(np.zeros((1, 64)))),
                                                      ("X.npy", hostile.npy(np.ones((1, 64))))])), 422),
    ".npz holding X.npy twice": (
        obj("h/dupx.npz", lambda tmp: hostile.zip_of([("X.npy", hostile.npy(np.zeros((1, 64))))] * 2)), 422),
    ".npz of 17 small members": (
        obj("h/many.npz", lambda tmp: hostile.zip_of([(f"a{i}.npy", b"") for i in range(16)]
                                                     + [("X.npy", hostile.npy(np.zeros((1, 64))))])), 413),
    # siblings: the .npy header is now read without np.load, so its shape is checked here
    ".npy header with shape (-1, 64)": (
        obj("h/negative.npy", lambda tmp: hostile._npy_header((-1, 64), "<f8") + bytes(2 * 64 * 8)), 422),
    ".npy header with shape (True, 64)": (
        obj("h/boolshape.npy", lambda tmp: hostile._npy_header((True, 64), "<f8") + bytes(64 * 8)), 422),
    ".npy header of 70 dimensions": (obj("h/dims.npy", lambda tmp: hostile._npy_header((1,) * 70, "<f8") + bytes(8)),
                                     422),
    # item 18: binary files posted as the body are named, with what to do instead
    "raw .npy bytes as the body": (raw64(hostile.npy(np.zeros((1, 64), np.uint8))), 415),
    "raw .npz bytes as the body": (raw64(hostile.npz(X=np.zeros((1, 64), np.uint8))), 415),
}


def image(data: bytes) -> Case:
    """A case sending one image file base64-encoded in {"images": [...]}."""
    return body({"images": [base64.b64encode(data).decode()]})


def raw_image(data: bytes, content_type: str = "image/png") -> Case:
    """A case whose whole body is one image file (API Gateway base64-encodes it)."""
    return body(base64.b64encode(data).decode(), isBase64Encoded=True, headers={"content-type": content_type})


_DIGIT = hostile_images.digit()
_PNG = hostile_images.saved(_DIGIT, "PNG")
_JPEG = hostile_images.saved(_DIGIT, "JPEG")
IMAGE_CASES: dict[str, tuple[Case, int]] = {
    "PNG declaring 12,000 x 12,000 pixels (140 KB)": (lambda s3, tmp: image(hostile_images.png_bomb())(s3, tmp), 413),
    "PNG bomb as a raw image/png body": (lambda s3, tmp: raw_image(hostile_images.png_bomb())(s3, tmp), 413),
    "PNG bomb from S3": (obj("h/bomb.png", lambda tmp: hostile_images.png_bomb()), 413),
    "truncated PNG": (image(_PNG[: len(_PNG) // 2]), 422),
    "PNG cut inside its header": (image(_PNG[:20]), 422),
    "truncated JPEG": (image(_JPEG[: len(_JPEG) // 2]), 422),
    "GIF": (image(hostile_images.saved(_DIGIT, "GIF")), 415),
    "TIFF": (image(hostile_images.saved(_DIGIT, "TIFF")), 415),
    "WebP": (image(hostile_images.saved(_DIGIT, "WEBP")), 415),
    "BMP": (image(hostile_images.saved(_DIGIT, "BMP")), 415),
    "SVG": (image(hostile_images.SVG), 415),
    "GIF as a raw image/gif body": (raw_image(hostile_images.saved(_DIGIT, "GIF"), "image/gif"), 415),
    "PNG sent as image/webp": (raw_image(_PNG, "image/webp"), 415),
    "animated PNG": (image(hostile_images.animated_png()), 415),
    "blank page": (image(hostile_images.blank_page()), 422),
    "text named .png in S3": (obj("h/notes.png", lambda tmp: b"these are my notes, not a picture\n"), 415),
    "empty .jpg in S3": (obj("h/empty.jpg", lambda tmp: b""), 415),
    "image not base64": (body({"images": ["%%% not base64 %%%"]}), 400),
    "data: URL without ;base64": (body({"images": ["data:image/png," + base64.b64encode(_PNG).decode()]}), 400),
    "raw image/png body not base64": (body("%%%", isBase64Encoded=True, headers={"content-type": "image/png"}), 400),
    "images is a string": (body({"images": base64.b64encode(_PNG).decode()}), 400),
    "images is an object": (body({"images": {"0": "x"}}), 400),
    "images is empty": (body({"images": []}), 422),
    "images holds numbers": (body({"images": [7, 1]}), 400),
    "65 images, over the per-request count": (body({"images": ["AAAA"] * 65}), 413),
    "images body over Lambda's 6 MB": (body({"images": ["A" * (6 * 1024 * 1024 + 4)]}), 413),
    "raw image body over Lambda's 6 MB": (raw_image(bytes(6 * 1024 * 1024 + 1)), 413),
    "images and instances together": (body({"images": [base64.b64encode(_PNG).decode()], "instances": [ROW]}), 400),
    "scores is not a boolean": (body({"instances": [ROW], "scores": "yes"}), 400),
    "boolean pixel beside scores: true": (body({"instances": [[True] + ROW[1:]], "scores": True}), 422),
    "inputs is a number": (body({"instances": [ROW], "inputs": 1}), 400),
}
CATALOGUE.update(IMAGE_CASES)


def zipped_npy(member: bytes) -> bytes:
    """An .npz (plain zip) holding `member` as X.npy, written without numpy so any array bytes can go in."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("X.npy", member)
    return buffer.getvalue()


@pytest.mark.parametrize("case", CATALOGUE, ids=list(CATALOGUE))
def test_hostile_input_gets_its_status_and_the_function_keeps_working(
        case: str, app: ModuleType, s3, tmp_path: Path) -> None:
    # given a hostile request
    build, expected = CATALOGUE[case]
    value, changes = build(s3, tmp_path)
    if value is None:
        event = changes
    else:
        text = value if isinstance(value, str) else json.dumps(value)
        event = load_event("predict_inline.json", body=text)
        event.update({k: v for k, v in changes.items() if k != "headers"})
        event["headers"] = {**event["headers"], **changes.get("headers", {})}
    # when the handler receives it
    started = time.perf_counter()
    response = app.handler(event, LambdaContext())
    elapsed = time.perf_counter() - started
    # then: the exact status, a JSON error naming the problem, quickly, and no pickle ever ran
    assert response["statusCode"] == expected, response["body"][:300]
    error = json.loads(response["body"])["error"]
    assert isinstance(error, str) and 10 < len(error) < 500
    assert len(response["body"]) < 2_000  # every echoed value is bounded, whatever the request held
    assert elapsed < 10 and not (tmp_path / "pwned").exists()
    # and the next good request still succeeds
    good = app.handler(load_event("predict_inline.json", body=json.dumps({"instances": [GOOD_ROW]})), LambdaContext())
    assert good["statusCode"] == 200


def test_catalogue_has_at_least_40_distinct_cases() -> None:
    assert len(CATALOGUE) >= 40 and len({c for c in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("case", [name for name, (_, status) in IMAGE_CASES.items() if status == 415])
def test_refused_image_formats_name_the_accepted_ones(case: str, app: ModuleType, s3, tmp_path: Path) -> None:
    value, changes = IMAGE_CASES[case][0](s3, tmp_path)
    event = load_event("predict_inline.json", body=value if isinstance(value, str) else json.dumps(value))
    event.update({k: v for k, v in changes.items() if k != "headers"})
    event["headers"] = {**event["headers"], **changes.get("headers", {})}
    error = json.loads(app.handler(event, LambdaContext())["body"])["error"]
    assert ("PNG" in error and "JPEG" in error) or ("image/png" in error and "image/jpeg" in error), error
