"""The drawing page as served: by the handler at GET / and by the local API, self-contained and locked down."""

from __future__ import annotations

import re
from types import ModuleType

from conftest import FUNCTION_DIR, LambdaContext, http, load_event

PAGE = (FUNCTION_DIR / "page.html").read_text()


def test_page_is_one_self_contained_file() -> None:
    # no framework, no script, style, font or image from elsewhere: nothing the page loads leaves the machine
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", PAGE)
    assert not re.search(r"<link|@import|url\(\s*['\"]?(https?:)?//", PAGE)
    assert "<script src" not in PAGE and PAGE.count("<script>") == 1
    assert 'fetch(api' in PAGE and 'new URL("predict", window.location.href)' in PAGE


def test_controls_are_labelled_and_reachable_by_keyboard() -> None:
    assert '<button id="clear" type="button">Clear</button>' in PAGE
    assert '<label for="file">' in PAGE and 'id="file" type="file" accept="image/png,image/jpeg"' in PAGE
    assert re.search(r'<canvas id="pad"[^>]*tabindex="0"[^>]*aria-label="[^"]+"', PAGE, re.S)
    assert "pointerdown" in PAGE and "pointerup" in PAGE and "pointercancel" in PAGE


def test_handler_answers_get_root_with_the_page(app: ModuleType) -> None:
    # given GET / as API Gateway sends it when the stack is public (auth none)
    event = load_event("get_predict.json", rawPath="/")
    event["requestContext"]["http"]["path"] = "/"
    # when the handler receives it
    response = app.handler(event, LambdaContext())
    # then the page, with a policy that lets it talk to this API only
    assert response["statusCode"] == 200 and response["headers"]["content-type"].startswith("text/html")
    assert response["body"] == PAGE
    policy = response["headers"]["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy


def test_get_predict_is_still_405(app: ModuleType) -> None:
    response = app.handler(load_event("get_predict.json"), LambdaContext())
    assert response["statusCode"] == 405


def test_local_api_serves_the_page_and_names_it_in_the_ready_line(local_api: dict[str, str]) -> None:
    assert local_api["page"] == local_api["url"].removesuffix("predict")
    status, headers, body = http(local_api["page"], method="GET")
    assert status == 200 and headers["content-type"].startswith("text/html") and body.decode() == PAGE
    status, headers, body = http(local_api["page"], method="HEAD")
    assert status == 200 and body == b""
    status, _, _ = http(local_api["page"] + "index.html", method="GET")
    assert status == 404


def test_local_api_reads_a_raw_png_body_as_curl_sends_it(local_api: dict[str, str], model_dir) -> None:
    import json

    import numpy as np

    from digit_images import inverted, picture, png

    # given curl --data-binary @digit.png -H 'content-type: image/png' against the local API
    X, y = np.load(model_dir / "test_features.npy"), np.load(model_dir / "test_labels.npy")
    status, _, body = http(local_api["url"] + "?scores=true", png(inverted(picture(X[0], 16))),
                           headers={"content-type": "image/png"})
    # then the binary body reaches the handler intact (base64-encoded, as API Gateway does) and is predicted
    reply = json.loads(body)
    assert status == 200 and reply["predictions"] == [int(y[0])] and len(reply["scores"][0]) == 10
