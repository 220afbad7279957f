"""IAM and bucket policy documents, as plain functions so tests can read the exact statements."""

from __future__ import annotations

import json


def lambda_trust() -> str:
    """Only the Lambda service may assume the function's role."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def write_logs(log_group_arn: str) -> str:
    """Write to the function's own log group, nothing else (narrower than AWSLambdaBasicExecutionRole)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{log_group_arn}:*"}]})


def read_inputs(bucket_arn: str, prefix: str) -> str:
    """Read objects of the data bucket (under the prefix), and list only there so a missing key is 404, not 403."""
    # Without s3:ListBucket, S3 answers AccessDenied for a key that does not exist, hiding "upload it first".
    listing: dict = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn}
    if prefix:  # no prefix: the whole bucket is readable anyway, and a condition on an absent key never matches
        listing["Condition"] = {"StringLike": {"s3:prefix": f"{prefix}*"}}
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/{prefix}*"}, listing]})


def tls_only(bucket_arn: str) -> str:
    """Deny every request to the bucket that does not use TLS."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def keep_recent_images(count: int) -> str:
    """Expire all but the newest `count` images; the deployed image is the newest push, so it always stays."""
    return json.dumps({"rules": [{
        "rulePriority": 1, "description": f"keep the last {count} images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": count},
        "action": {"type": "expire"}}]})


ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "caller": "$context.identity.caller",
    "requestTime": "$context.requestTime", "routeKey": "$context.routeKey", "status": "$context.status",
    "responseLength": "$context.responseLength", "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
})
"""API Gateway access log line: one JSON object per request, no payloads."""
