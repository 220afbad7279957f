"""Images through the handler: every way to send one, every mode, vote shares, and accuracy on held-out digits."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

import digit_images
from conftest import DATA_BUCKET, FUNCTION_DIR, LambdaContext, call, load_event
from digit_images import inverted, picture, png

# The largest drop from row accuracy allowed for any kind of image made from the held-out rows (docs/images.md).
ALLOWED_DROP = 0.05


@pytest.fixture(scope="module")
def held_out(model_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The held-out rows (8x8, 0-16) and labels written by training."""
    return np.load(model_dir / "test_features.npy"), np.load(model_dir / "test_labels.npy")


def b64(data: bytes) -> str:
    """Base64 text of bytes."""
    return base64.b64encode(data).decode()


def first_png(held_out) -> tuple[bytes, int]:
    """The first held-out digit as a dark-on-white PNG, and its label."""
    X, y = held_out
    return png(inverted(picture(X[0], 16))), int(y[0])


def test_training_records_the_normalisation_the_function_applies(model_dir: Path) -> None:
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["normalisation"] == {"kind": "digits-8", "size": 8, "max_value": 16}


def test_images_base64_and_data_url_give_the_label(app: ModuleType, held_out) -> None:
    # given one digit as plain base64 and as the data: URL a browser canvas gives
    data, label = first_png(held_out)
    # when both are sent in one request
    status, body = call(app, {"images": [b64(data), "data:image/png;base64," + b64(data)]})
    # then both are predicted as the digit's label
    assert status == 200 and body["predictions"] == [label, label] and body["count"] == 2


def test_raw_image_body_as_curl_sends_it(app: ModuleType, held_out) -> None:
    # given curl --data-binary @digit.png -H 'content-type: image/png': API Gateway base64-encodes the body
    data, label = first_png(held_out)
    event = load_event("predict_inline.json", body=b64(data), isBase64Encoded=True,
                       rawQueryString="scores=true")
    event["headers"]["content-type"] = "image/png"
    # when the handler receives it
    response = app.handler(event, LambdaContext())
    body = json.loads(response["body"])
    # then it is predicted, and the query string's scores=true adds the vote shares
    assert response["statusCode"] == 200 and body["predictions"] == [label] and len(body["scores"][0]) == 10


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg"])
def test_image_object_in_s3(app: ModuleType, s3, held_out, suffix: str) -> None:
    data, label = first_png(held_out)
    if suffix != ".png":
        data = digit_images.jpeg(Image.open(io.BytesIO(data)))
    s3.put_object(Bucket=DATA_BUCKET, Key=f"photos/digit{suffix}", Body=data)
    status, body = call(app, {"bucket": DATA_BUCKET, "key": f"photos/digit{suffix}"})
    assert status == 200 and body["predictions"] == [label]


def test_scores_are_vote_shares_in_class_order_summing_to_one(app: ModuleType, held_out) -> None:
    # given ten held-out rows, asking for scores
    X, _ = held_out
    status, body = call(app, {"instances": X[:10].tolist(), "scores": True})
    # then one share per class per row, summing to 1, the largest being the prediction
    shares = np.array(body["scores"])
    assert status == 200 and shares.shape == (10, 10)
    assert np.allclose(shares.sum(axis=1), 1, atol=1e-3) and (shares >= 0).all()
    assert shares.argmax(axis=1).tolist() == body["predictions"]
    # and without the flag the response is as before
    assert "scores" not in call(app, {"instances": X[:10].tolist()})[1]


def test_inputs_return_the_image_the_model_saw(app: ModuleType, held_out) -> None:
    data, _ = first_png(held_out)
    status, body = call(app, {"images": [b64(data)], "inputs": True})
    seen = np.array(body["inputs"][0])
    assert status == 200 and body["input_shape"] == [8, 8] and seen.shape == (64,)
    assert 0 <= seen.min() and seen.max() <= 16 and seen.sum() > 50


def _as_mode(image: Image.Image, mode: str) -> bytes:
    if mode == "I;16":
        return png(Image.fromarray(np.asarray(image).astype(np.uint16) * 257))
    if mode == "P":
        return png(image.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16))
    if mode == "RGBA on transparent":
        return png(digit_images.on_transparent_canvas(inverted(image), 3))
    if mode == "light on dark":
        return png(inverted(image))
    return png(image.convert(mode))


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "RGBA on transparent", "light on dark"])
def test_every_mode_and_polarity_gives_the_same_answer(app: ModuleType, held_out, mode: str) -> None:
    X, y = held_out
    image = inverted(picture(X[1], 16))  # dark on white
    status, body = call(app, {"images": [b64(_as_mode(image, mode))]})
    assert status == 200 and body["predictions"] == [int(y[1])]


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_jpeg_exif_orientation_is_honoured(app: ModuleType, held_out, orientation: int) -> None:
    # given a camera JPEG stored sideways with an EXIF tag saying how to turn it upright
    X, y = held_out
    upright = inverted(picture(X[2], 16)).convert("RGB")
    stored = upright.transpose({3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
                                8: Image.Transpose.ROTATE_270}[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=90, exif=exif)
    # when it is sent, then it is read upright
    status, body = call(app, {"images": [b64(buffer.getvalue())], "inputs": True})
    expected = call(app, {"images": [b64(digit_images.jpeg(upright, 90))], "inputs": True})[1]
    assert status == 200 and body["predictions"] == [int(y[2])]
    assert np.abs(np.array(body["inputs"]) - np.array(expected["inputs"])).mean() < 1.0


def image_accuracy(app: ModuleType, X: np.ndarray, y: np.ndarray, kind: str, max_value: float) -> float:
    """Accuracy over the held-out rows sent as images of one kind, 32 per request."""
    make = digit_images.VARIANTS[kind]
    correct = 0
    for start in range(0, len(X), 32):
        files = [b64(make(row, max_value, start + n)) for n, row in enumerate(X[start : start + 32])]
        status, body = call(app, {"images": files})
        assert status == 200, body
        correct += int((np.array(body["predictions"]) == y[start : start + 32]).sum())
    return correct / len(X)


@pytest.mark.parametrize("kind", list(digit_images.VARIANTS))
def test_accuracy_on_images_is_within_a_few_points_of_rows(app: ModuleType, held_out, kind: str) -> None:
    # given the held-out rows, predicted as rows and as images made from them
    X, y = held_out
    rows = float(np.mean(np.array(call(app, {"instances": X.tolist()})[1]["predictions"]) == y))
    # when each row is sent as an image of this kind
    images = image_accuracy(app, X, y, kind, 16)
    print(f"\naccuracy: {kind}: rows {rows:.4f}, images {images:.4f}")
    # then the accuracy drops by a few points at most
    assert images >= rows - ALLOWED_DROP


def test_row_requests_never_import_pillow(model_dir: Path, s3_server: str) -> None:
    # given a fresh function init serving a row request
    probe = ("import json, sys, app; e = {'requestContext': {'http': {'method': 'POST'}}, 'body': "
             "json.dumps({'instances': [[0] * 64]})}; r = app.handler(e, None); "
             "print(r['statusCode'], 'PIL' in sys.modules)")
    env = {"MODEL_DIR": str(model_dir), "ALLOWED_BUCKETS": DATA_BUCKET, "AWS_DEFAULT_REGION": "us-east-1",
           "PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=FUNCTION_DIR, env=env, capture_output=True, text=True)
    # then Pillow was never loaded
    assert result.stdout.split() == ["200", "False"], result.stderr[-1000:]


def test_vote_shares_weigh_by_inverse_distance_and_an_exact_match_takes_all() -> None:
    from knn import KnnModel

    # given a model over four points of classes 0, 0, 1, 2 (k=3, distance-weighted) and the same with uniform votes
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    y = np.array([0, 0, 1, 2])
    distance = KnnModel.fit(np.zeros(2), np.eye(2), X, y, k=3)
    uniform = KnnModel.fit(np.zeros(2), np.eye(2), X, y, k=3, weights="uniform")
    query = np.array([[0.5, 1.0], [0.0, 0.0]])
    # when the shares are computed
    shares = distance.scores(*distance.kneighbors(query))
    flat = uniform.scores(*uniform.kneighbors(query))
    # then (all three neighbours of row 1 being equally far) they follow 1/distance, sum to 1 per row, and an
    # exact match (row 2) takes the whole vote
    assert np.allclose(shares[0], [2 / 3, 1 / 3, 0], atol=0.02) and np.allclose(shares.sum(axis=1), 1)
    assert shares[1].tolist() == [1.0, 0.0, 0.0]
    assert np.allclose(flat[0], [2 / 3, 1 / 3, 0], atol=0.01)
    assert shares.argmax(axis=1).tolist() == distance.predict(query).tolist()


def test_a_model_of_unknown_layout_refuses_images(app: ModuleType, held_out, monkeypatch) -> None:
    monkeypatch.setattr(app, "NORMALISATION", None)
    status, body = call(app, {"images": [b64(first_png(held_out)[0])]})
    assert status == 422 and "retrain" in body["error"]
