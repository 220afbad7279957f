"""`python -m function.local`: train if needed, start embedded S3 and the local API, optionally run one round trip."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import ModuleType

from function.local.model import LocalError, TrainingStopped, ensure_model

FUNCTION_DIR = Path(__file__).resolve().parent.parent
ROOT = FUNCTION_DIR.parent
BUCKET = "mnist-local-data"
BATCH_KEY = "batches/test_features.npy"


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {port}")
    return port


def _figure(text: str) -> Path:
    # Checked now: a bad suffix found after the round trip would cost the accuracy line with it.
    if Path(text).suffix.lower() not in FIGURE_SUFFIXES:
        raise argparse.ArgumentTypeError(f"must end in {', '.join(FIGURE_SUFFIXES)}, got {text!r}")
    return Path(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options of the local API."""
    parser = argparse.ArgumentParser(prog="python -m function.local", description=__doc__)
    parser.add_argument("--port", type=_port, default=3000, help="HTTP port on 127.0.0.1 (default 3000, 0 = any free)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--model-dir", type=Path, default=FUNCTION_DIR / "model",
                        help="model folder; trained into first when new or empty (never over other files)")
    parser.add_argument("--once", action="store_true", help="predict the held-out batch over HTTP, then exit")
    parser.add_argument("--confusion", type=_figure, default=ROOT / "artifacts" / "confusion_matrix.png",
                        help="where --once saves the confusion matrix")
    return parser.parse_args(argv)


def log(message: str) -> None:
    """Human-readable progress goes to stderr; stdout carries only the JSON ready line."""
    print(message, file=sys.stderr, flush=True)


def start_s3(model_dir: Path):
    """Start the embedded S3, create the data bucket and upload the held-out batch."""
    from function.local.s3 import start_embedded_s3

    server, endpoint, client = start_embedded_s3(BUCKET)
    if (model_dir / "test_features.npy").is_file():  # a model folder without its held-out batch still serves
        client.upload_file(str(model_dir / "test_features.npy"), BUCKET, BATCH_KEY)
    return server, endpoint


def import_handler(model_dir: Path, endpoint: str) -> ModuleType:
    """Import app.py exactly as Lambda does: function/ is the task root, config comes from the environment."""
    os.environ.update(MODEL_DIR=str(model_dir), ALLOWED_BUCKETS=BUCKET, AWS_ENDPOINT_URL_S3=endpoint)
    sys.path.insert(0, str(FUNCTION_DIR))
    from logs import JsonFormatter

    # The handler's JSON log lines go to stderr here, so stdout carries only the ready line and results.
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(stream)
    return importlib.import_module("app")


def round_trip(url: str, model_dir: Path, confusion_png: Path) -> int:
    """Send the held-out batch by S3 reference, print accuracy and save the confusion matrix."""
    import numpy as np

    from client.api import accuracy, predict
    from training.report import confusion, save_confusion_png

    reply = predict(url, {"bucket": BUCKET, "key": BATCH_KEY}, sign=False)
    if reply.status != 200:
        log(f"error: POST {url} answered {reply.status}: {reply.body.get('error')}")
        return 1
    labels = np.load(model_dir / "test_labels.npy", allow_pickle=False)
    score = accuracy(reply.body["predictions"], labels)
    trained = json.loads((model_dir / "metadata.json").read_text())
    print(f"accuracy: {score:.4f} on {len(labels)} held-out rows via POST {url} "
          f"(training measured {trained['test_accuracy']:.4f}; dataset {trained['dataset']})", flush=True)
    try:
        confusion_png.parent.mkdir(parents=True, exist_ok=True)
        save_confusion_png(confusion(labels, np.asarray(reply.body["predictions"])), confusion_png, "local API")
    except OSError as exc:
        log(f"error: cannot save --confusion {confusion_png}: {exc.strerror or exc}")
        return 1
    print(f"confusion matrix: {confusion_png}")
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the local API until Ctrl-C (or one round trip with --once); errors are one line and exit 2."""
    args = parse_args(argv)
    from client.api import ClientError

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` and `docker stop` stop as cleanly as Ctrl-C, in every phase
    try:
        return serve(args)
    except LocalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:  # the round trip's call or its labels
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except TrainingStopped:
        return 130  # the training process has already said it was interrupted
    except KeyboardInterrupt:
        log("interrupted")
        return 130


def serve(args: argparse.Namespace) -> int:
    """Train if needed, start S3 and the API, then serve or run the round trip."""
    from function.local.server import make_server

    model_dir = args.model_dir.expanduser().resolve()
    ensure_model(model_dir, need_batch=args.once)
    s3, endpoint = start_s3(model_dir)
    try:
        app = import_handler(model_dir, endpoint)
        server = make_server(args.host, args.port, app.handler)
    except OSError as exc:
        s3.stop()
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}/predict"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    from function.local.sqs import start_batch_path

    batch = start_batch_path(endpoint, BUCKET)  # incoming/ -> embedded SQS -> worker.handler, as on AWS
    try:  # from the ready line on, Ctrl-C means "stop serving": a clean stop, exit 0
        print(json.dumps({"url": url, "s3_endpoint": endpoint, "bucket": BUCKET, "page": f"http://{host}:{port}/",
                          "incoming_prefix": batch.incoming_prefix}), flush=True)
        if args.once:
            return round_trip(url, model_dir, args.confusion)
        log(f"serving POST {url} and the drawing page at http://{host}:{port}/ (Ctrl-C to stop)")
        # Short waits, not one join(): a signal the kernel hands to another thread only reaches Python when the
        # main thread wakes, and a main thread blocked in join() forever never would (seen: Ctrl-C ignored).
        while thread.is_alive():
            thread.join(timeout=0.5)
    except KeyboardInterrupt:
        batch.stop()  # first, so the poller says nothing after the last line
        log("stopping")
    finally:
        batch.stop()
        server.shutdown()
        server.server_close()
        s3.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
