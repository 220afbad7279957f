"""`python -m client upload|predict|batch`: upload a batch, call the predict URL, or score files through the bucket.

See docs/api.md and docs/batch.md."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from client.api import ClientError, accuracy, check_url, predict, upload
from client.batch import run_batch
from client.files import FIGURE_SUFFIXES, FORMATS, load_labels, load_rows

BATCH_FILE = f"a {', '.join(FORMATS)} file (as the API accepts)"


def _figure(text: str) -> Path:
    if Path(text).suffix.lower() not in FIGURE_SUFFIXES:
        raise argparse.ArgumentTypeError(f"must end in {', '.join(FIGURE_SUFFIXES)}, got {text!r}")
    return Path(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Subcommands `upload` and `predict`."""
    parser = argparse.ArgumentParser(prog="python -m client", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upload", help="upload a batch file to the bucket")
    up.add_argument("file", type=Path, help=BATCH_FILE)
    up.add_argument("--bucket", required=True)
    up.add_argument("--key", help="object key (default: batches/<file name>)")
    up.add_argument("--endpoint-url", help="S3 endpoint, e.g. the local API's s3_endpoint")
    pr = sub.add_parser("predict", help="call the predict URL with an S3 reference or inline rows")
    pr.add_argument("url", help="the invoke URL ending in /predict, e.g. $(pulumi stack output url)")
    source = pr.add_mutually_exclusive_group(required=True)
    source.add_argument("--key", help="S3 key of the batch (with --bucket)")
    source.add_argument("--rows", type=Path, help=f"{BATCH_FILE}, sent inline")
    pr.add_argument("--bucket", help="bucket of --key, e.g. $(pulumi stack output bucket_name)")
    pr.add_argument("--labels", type=Path, help="whole-number labels, one per row (same formats): print accuracy")
    pr.add_argument("--confusion", type=_figure, help="with --labels, also save the confusion matrix here (.png)")
    pr.add_argument("--region", help="AWS region for signing (default: from the URL)")
    pr.add_argument("--sign", action=argparse.BooleanOptionalAction, default=None,
                    help="SigV4-sign the request (default: only for execute-api URLs)")
    ba = sub.add_parser("batch", help="score files asynchronously: upload to incoming/, wait for predictions/")
    ba.add_argument("files", type=Path, nargs="+", metavar="FILE")
    ba.add_argument("--bucket", required=True, help="the data bucket, e.g. $(pulumi stack output bucket_name)")
    ba.add_argument("--wait", action="store_true", help="wait for every output and print it")
    ba.add_argument("--labels", type=Path, help=".npy labels of all rows in file order: print accuracy (implies --wait)")
    ba.add_argument("--prefix", default="", help="key prefix below incoming/, e.g. 'run-7/'")
    ba.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the outputs (default 900)")
    ba.add_argument("--endpoint-url", help="S3 endpoint, e.g. the local API's s3_endpoint")
    args = parser.parse_args(argv)
    try:
        if args.command == "predict":
            check_url(args.url, "the URL")
        elif args.endpoint_url:
            check_url(args.endpoint_url, "--endpoint-url")
    except ClientError as exc:
        parser.error(str(exc))
    if args.command == "batch" and (args.prefix.startswith("/") or ".." in args.prefix.split("/")):
        parser.error("--prefix must be a relative key prefix without '..'")
    if args.command == "predict" and args.key and not args.bucket:
        parser.error("--key needs --bucket")
    if args.command == "predict" and args.rows and args.bucket:  # silently ignoring it would predict other rows
        parser.error("--bucket goes with --key; --rows sends the file inline")
    if args.command == "predict" and args.confusion and not args.labels:
        parser.error("--confusion needs --labels")
    return args


def run_predict(args: argparse.Namespace) -> int:
    """Send the request, print predictions, and with labels print accuracy (and save the confusion matrix if asked)."""
    labels = load_labels(args.labels) if args.labels else None  # a bad labels file fails before the request
    if args.rows:
        rows = load_rows(args.rows)
        if labels is not None and len(labels) != len(rows):
            raise ClientError(f"{args.rows} has {len(rows)} rows but {args.labels} has {len(labels)} labels", 2)
        body = {"instances": rows.tolist()}
    else:
        body = {"bucket": args.bucket, "key": args.key}
    reply = predict(args.url, body, sign=args.sign, region=args.region)
    if reply.status != 200:
        raise ClientError(f"HTTP {reply.status}: {reply.body.get('error') or reply.body.get('message') or reply.body}")
    predictions = reply.body["predictions"]
    shown = predictions if len(predictions) <= 20 else predictions[:20] + ["..."]
    count = reply.body.get("count", len(predictions))
    print(json.dumps({"count": count, "predictions": shown, "model": reply.body.get("model")}))
    if labels is None:
        return 0
    print(f"accuracy: {accuracy(predictions, labels):.4f} on {len(labels)} rows", flush=True)
    if args.confusion:
        from training.report import confusion, save_confusion_png

        classes = max(10, int(labels.max()) + 1, max(predictions) + 1)
        try:
            args.confusion.parent.mkdir(parents=True, exist_ok=True)
            save_confusion_png(confusion(labels, np.asarray(predictions), classes), args.confusion,
                               "predictions via the API")
        except OSError as exc:
            raise ClientError(f"cannot save --confusion {args.confusion}: {exc.strerror or exc}") from None
        print(f"confusion matrix: {args.confusion}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0, 1 when a request fails, 2 for bad input; errors are one line on stderr."""
    args = parse_args(argv)
    try:
        if args.command == "upload":
            key = args.key or f"batches/{args.file.name}"
            upload(args.file, args.bucket, key, args.endpoint_url)
            print(json.dumps({"bucket": args.bucket, "key": key}))
            return 0
        if args.command == "batch":
            return run_batch(args.files, args.bucket, wait=args.wait, labels=args.labels, prefix=args.prefix,
                             endpoint_url=args.endpoint_url, timeout=args.timeout)
        return run_predict(args)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
