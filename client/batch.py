"""`python -m client batch`: upload files to incoming/, wait for predictions/ (or errors/), report accuracy."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from client.api import ClientError, accuracy
from client.files import load_labels

INCOMING, PREDICTIONS, ERRORS = "incoming/", "predictions/", "errors/"
SUFFIXES = (".npy", ".npz", ".csv", ".json", ".png", ".jpg", ".jpeg")


@dataclass
class Job:
    """One uploaded file and what became of it."""

    file: Path
    key: str
    etag: str = ""
    outcome: dict[str, Any] | None = None
    failed: bool = False

    @property
    def path(self) -> str:
        """The key below incoming/, which names the outputs."""
        return self.key[len(INCOMING):]


def _s3(endpoint_url: str | None) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url)


def _check(files: list[Path]) -> None:
    for file in files:
        if not file.is_file():
            raise ClientError(f"file not found: {file}", 2)
        if file.suffix.lower() not in SUFFIXES:
            raise ClientError(f"{file} is not a batch format ({', '.join(SUFFIXES)})", 2)
        if file.suffix.lower() == ".npy":
            try:  # the header only: a million rows are not read into memory here
                np.load(file, mmap_mode="r", allow_pickle=False)
            except ValueError as exc:
                raise ClientError(f"cannot read {file}: {exc}", 2) from None


def upload_all(s3: Any, files: list[Path], bucket: str, prefix: str) -> list[Job]:
    """Upload each file to incoming/<prefix><name>, with one progress line on stderr."""
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError as BotoClientError

    jobs = [Job(file, f"{INCOMING}{prefix}{file.name}") for file in files]
    total, sent = sum(job.file.stat().st_size for job in jobs), 0

    def progress(chunk: int) -> None:
        nonlocal sent
        sent += chunk
        print(f"\ruploading {len(jobs)} file(s): {sent * 100 // max(total, 1)}% of {total} bytes", end="",
              file=sys.stderr)

    try:
        for job in jobs:
            s3.upload_file(str(job.file), bucket, job.key, Callback=progress)
            job.etag = s3.head_object(Bucket=bucket, Key=job.key)["ETag"].strip('"')
    except (BotoCoreError, BotoClientError) as exc:
        raise ClientError(f"upload to s3://{bucket}/{INCOMING}{prefix} failed: {exc}") from None
    finally:
        print(file=sys.stderr)
    return jobs


def _fetch(s3: Any, bucket: str, key: str, etag: str) -> dict[str, Any] | None:
    """The output for this upload, or None while there is none (an older run's output does not count)."""
    from botocore.exceptions import ClientError as BotoClientError

    try:
        body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except BotoClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise ClientError(f"cannot read s3://{bucket}/{key}: {exc}") from None
    return body if (body.get("source") or {}).get("etag") == etag else None


def wait_all(s3: Any, jobs: list[Job], bucket: str, timeout: float, interval: float = 1.0) -> None:
    """Poll predictions/ and errors/ until every job has an outcome, or raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        for job in (j for j in jobs if j.outcome is None):
            job.outcome = _fetch(s3, bucket, f"{PREDICTIONS}{job.path}.json", job.etag)
            if job.outcome is None:
                job.outcome = _fetch(s3, bucket, f"{ERRORS}{job.path}.json", job.etag)
                job.failed = job.outcome is not None
        done = sum(job.outcome is not None for job in jobs)
        print(f"\rscored {done}/{len(jobs)}", end="", file=sys.stderr)
        if done == len(jobs):
            print(file=sys.stderr)
            return
        if time.monotonic() > deadline:
            print(file=sys.stderr)
            raise ClientError(f"{len(jobs) - done} of {len(jobs)} file(s) not scored after {timeout:g} s; "
                              "is the batch function running? (see its dead-letter queue and logs)")
        time.sleep(interval)


def run_batch(files: list[Path], bucket: str, *, wait: bool, labels: Path | None, prefix: str = "",
              endpoint_url: str | None = None, timeout: float = 900.0) -> int:
    """Upload, optionally wait and report; 0 when every file was scored, 1 when any landed in errors/."""
    _check(files)
    truth = load_labels(labels) if labels else None  # whole numbers only, as `predict --labels`
    s3 = _s3(endpoint_url)
    jobs = upload_all(s3, files, bucket, prefix)
    if not wait and truth is None:
        print(json.dumps({"bucket": bucket, "keys": [job.key for job in jobs]}))
        return 0
    wait_all(s3, jobs, bucket, timeout)
    for job in jobs:
        if job.failed:
            print(f"error: {job.key}: HTTP {job.outcome['status']}: {job.outcome['error']}", file=sys.stderr)
        else:
            shown = job.outcome["predictions"][:20] + (["..."] if job.outcome["count"] > 20 else [])
            print(json.dumps({"key": job.key, "output": f"{PREDICTIONS}{job.path}.json", "count": job.outcome["count"],
                              "predictions": shown}))
    if truth is not None and not any(job.failed for job in jobs):
        predictions = [p for job in jobs for p in job.outcome["predictions"]]
        print(f"accuracy: {accuracy(predictions, truth):.4f} on {len(truth)} rows")
    return 1 if any(job.failed for job in jobs) else 0
