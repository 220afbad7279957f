"""The `mnist` stack: stack config -> one MnistPredictor -> exported outputs. No resource logic lives here."""

from __future__ import annotations

import pulumi

from components import MnistPredictor, MnistPredictorArgs

# Stack config key (`pulumi config set mnist:<key> ...`) -> MnistPredictorArgs field, with its reader.
KEYS = {
    "architecture": ("architecture", "get"),
    "auth": ("auth", "get"),
    "memorySize": ("memory_size", "get_int"),
    "timeout": ("timeout", "get_int"),
    "reservedConcurrency": ("reserved_concurrency", "get_int"),
    "provisionedConcurrency": ("provisioned_concurrency", "get_int"),
    "throttlingBurstLimit": ("throttling_burst_limit", "get_int"),
    "throttlingRateLimit": ("throttling_rate_limit", "get_float"),
    "logRetentionDays": ("log_retention_days", "get_int"),
    "forceDestroy": ("force_destroy", "get_bool"),
    "uploadSample": ("upload_sample", "get_bool"),
    "inputPrefix": ("input_prefix", "get"),
    "imageKeepCount": ("image_keep_count", "get_int"),
    # First deploy on a fresh account (issue 14)
    "allowDigitsModel": ("allow_digits_model", "get_bool"),
    # operations (docs/operations.md)
    "metricsNamespace": ("metrics_namespace", "get"),
    "alarms": ("alarms", "get_bool"),
    "alarmEmail": ("alarm_email", "get"),
    "alarmErrorsThreshold": ("alarm_errors_threshold", "get_int"),
    "alarmThrottlesThreshold": ("alarm_throttles_threshold", "get_int"),
    "alarmApi5xxThreshold": ("alarm_api_5xx_threshold", "get_int"),
    "alarmDurationPercent": ("alarm_duration_percent", "get_int"),
    "alarmQueueAgeSeconds": ("alarm_queue_age_seconds", "get_int"),
    "tracing": ("tracing", "get_bool"),
}


def args_from_config(config: pulumi.Config) -> MnistPredictorArgs:
    """Only keys that are set override the component's defaults; errors name the config key."""
    values = {}
    for key, (field, reader) in KEYS.items():
        if key == "reservedConcurrency" and (config.get(key) or "").strip().lower() == "none":
            values[field] = None  # explicitly unreserved, the default
            continue
        value = getattr(config, reader)(key)
        if value is not None:
            values[field] = value
    try:
        return MnistPredictorArgs(**values)
    except ValueError as exc:
        key = next((k for k, (field, _) in KEYS.items() if str(exc).startswith(field)), None)
        raise ValueError(f"mnist:{key}: {exc}" if key else str(exc)) from None


try:
    predictor = MnistPredictor("mnist", args_from_config(pulumi.Config("mnist")))
except (ValueError, FileNotFoundError) as exc:  # ConfigTypeError is a RunError already
    # One clear line in `pulumi preview`/`up`, not an unhandled exception's stack trace.
    raise pulumi.RunError(str(exc)) from None

pulumi.export("url", predictor.url)
pulumi.export("bucket_name", predictor.bucket_name)
pulumi.export("function_name", predictor.function_name)
pulumi.export("repository_url", predictor.repository_url)
pulumi.export("image_uri", predictor.image_uri)
pulumi.export("api_id", predictor.api_id)
pulumi.export("log_group_name", predictor.log_group_name)
pulumi.export("sample_key", predictor.sample_key)
pulumi.export("dashboard_url", predictor.dashboard_url)
