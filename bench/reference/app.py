"""REFERENCE ONLY (the tutorial's handler, recreated for the benchmark): never deploy this.

It unpickles the object the caller names, which runs arbitrary code. The project's function/app.py exists to fix that.
"""

import json
import os
import tempfile

import boto3
import joblib

s3 = boto3.client("s3")
model = joblib.load(os.environ["REFERENCE_MODEL"])


def handler(event, context):
    """Download the named joblib file, unpickle the DataFrame inside, predict with scikit-learn."""
    body = json.loads(event["body"])
    path = os.path.join(tempfile.gettempdir(), "batch.joblib")
    s3.download_file(body["bucket"], body["key"], path)
    features = joblib.load(path)
    predictions = model.predict(features)
    return {"statusCode": 200, "body": json.dumps({"predictions": predictions.tolist()})}
