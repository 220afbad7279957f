"""MnistPredictorArgs: every setting of the component, its default, and its validation, in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

ARCHITECTURES = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
AUTH_MODES = ("iam", "none")
# CloudWatch Logs accepts only these retention periods (0 = never expire).
RETENTION_DAYS = (0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
MAX_TIMEOUT_S = 29  # API Gateway's integration timeout is 30 s; the function must answer before it


@dataclass
class MnistPredictorArgs:
    """Settings of an MnistPredictor; every field has a default, so `MnistPredictor("name")` works."""

    architecture: str = "x86_64"
    """Lambda architecture, 'x86_64' or 'arm64'; the image is built for the matching platform."""
    memory_size: int = 256
    """Lambda memory in MB (128-10240). 256 holds the largest accepted request with 25% headroom (bench/results)."""
    timeout: int = 15
    """Lambda timeout in seconds (1-29): below API Gateway's 30 s cap, and far above a batch's latency."""
    auth: str = "iam"
    """'iam' requires SigV4-signed calls (AWS_IAM route); 'none' makes the endpoint public, for demos only."""
    reserved_concurrency: int | None = None
    """None (default): unreserved, so new accounts (quota 10) deploy; N >= 1 reserves and caps N executions."""
    provisioned_concurrency: int = 0
    """Pre-warmed instances behind a 'live' alias, at a fixed hourly cost; 0 disables; at most the reservation."""
    throttling_burst_limit: int = 20
    """API Gateway burst limit (requests) for the $default stage."""
    throttling_rate_limit: float = 10.0
    """API Gateway steady-state limit (requests per second) for the $default stage."""
    log_retention_days: int = 14
    """Retention of the function's and the API's log groups; one of CloudWatch's allowed values."""
    force_destroy: bool = True
    """Let `pulumi destroy` delete the data bucket with objects in it (convenient for dev; False for prod)."""
    upload_sample: bool = True
    """Upload the held-out test batch to samples/ so a request works straight after `pulumi up`."""
    input_prefix: str = ""
    """Restrict the function's s3:GetObject to keys under this prefix of the data bucket ('' = whole bucket)."""
    image_keep_count: int = 10
    """ECR lifecycle: keep this many most recent images (the deployed one is always the newest)."""
    function_dir: str | None = None
    """The function folder (Dockerfile, handler, model/); default: the one shipped with this package."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags added to every taggable child resource."""

    # First deploy on a fresh account (issue 14)
    allow_digits_model: bool = False
    """Deploy a model trained on the 8x8 'digits' fallback; off, it is refused (it is not built for MNIST input)."""
    # --- operations: metrics, alarms, dashboard, tracing (docs/operations.md)
    metrics_namespace: str = "MnistPredictor"
    """CloudWatch namespace of the code's EMF metrics (rows, latency, source, errors, cold starts); '' = off."""
    alarms: bool = True
    """Create the SNS alarm topic and the alarms (errors, throttles, API 5xx, p99 duration, dead letters, queue age)."""
    alarm_email: str | None = None
    """Subscribe this address to the alarm topic (AWS mails a confirmation link first); None subscribes nobody."""
    alarm_errors_threshold: int = 1
    """Function errors (crashes, timeouts, out of memory) in 5 minutes that raise the errors alarm."""
    alarm_throttles_threshold: int = 1
    """Throttled invocations in 5 minutes that raise the throttles alarm."""
    alarm_api_5xx_threshold: int = 5
    """API 5xx answers in 5 minutes that raise the API 5xx alarm."""
    alarm_duration_percent: int = 80
    """The duration alarm fires when p99 duration exceeds this percentage of the function's timeout."""
    alarm_queue_age_seconds: int = 900
    """The queue-age alarm fires when the oldest batch message has waited longer than this."""
    tracing: bool = False
    """X-Ray active tracing on the function(s), with the permission to send traces; off by default (it is billed)."""

    def __post_init__(self) -> None:
        """Fail fast, naming the allowed values."""
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be 'x86_64' or 'arm64', got {self.architecture!r}")
        if self.auth not in AUTH_MODES:
            raise ValueError(f"auth must be 'iam' or 'none', got {self.auth!r}")
        _check_int("memory_size", self.memory_size, 128, 10240)
        _check_int("timeout", self.timeout, 1, MAX_TIMEOUT_S)
        if self.reserved_concurrency == 0 and not isinstance(self.reserved_concurrency, bool):
            # Lambda accepts 0, and then throttles every invocation: never what a deploy wants.
            raise ValueError("reserved_concurrency 0 would throttle every call; use None (unreserved, the default) "
                             "or a whole number 1 or more")
        if self.reserved_concurrency is not None:
            _check_int("reserved_concurrency", self.reserved_concurrency, 1, None)
        _check_int("provisioned_concurrency", self.provisioned_concurrency, 0, None)
        if self.reserved_concurrency is not None and self.provisioned_concurrency > self.reserved_concurrency:
            # Lambda draws provisioned instances from the function's reservation when it has one.
            raise ValueError(f"provisioned_concurrency ({self.provisioned_concurrency}) cannot exceed "
                             f"reserved_concurrency ({self.reserved_concurrency})")
        _check_int("throttling_burst_limit", self.throttling_burst_limit, 1, None)
        if not isinstance(self.throttling_rate_limit, (int, float)) or self.throttling_rate_limit <= 0:
            raise ValueError(f"throttling_rate_limit must be a positive number, got {self.throttling_rate_limit!r}")
        if self.log_retention_days not in RETENTION_DAYS:
            raise ValueError(f"log_retention_days must be one of {RETENTION_DAYS}, got {self.log_retention_days!r}")
        _check_int("image_keep_count", self.image_keep_count, 1, 1000)
        if not isinstance(self.allow_digits_model, bool):
            raise ValueError(f"allow_digits_model must be true or false, got {self.allow_digits_model!r}")
        if self.input_prefix.startswith("/") or "*" in self.input_prefix:
            raise ValueError(f"input_prefix must be a plain key prefix without '/' at the start or '*', "
                             f"got {self.input_prefix!r}")
        _check_operations(self)

    @property
    def platform(self) -> str:
        """The Docker platform matching the Lambda architecture."""
        return ARCHITECTURES[self.architecture]


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise ValueError(f"{name} must be a whole number {allowed}, got {value!r}")


def _check_operations(args: MnistPredictorArgs) -> None:
    namespace = args.metrics_namespace
    if not isinstance(namespace, str) or len(namespace) > 255 or namespace.startswith("AWS/") or not all(
            c.isascii() and (c.isalnum() or c in "._-/#: ") for c in namespace):
        raise ValueError(f"metrics_namespace must be up to 255 letters, digits or . _ - / # : and not start with "
                         f"'AWS/' ('' turns metrics off), got {namespace!r}")
    email = args.alarm_email
    if email is not None and (not isinstance(email, str) or email.count("@") != 1 or any(c.isspace() for c in email)
                              or not all(email.split("@"))):
        raise ValueError(f"alarm_email must be one email address like ops@example.com, got {email!r}")
    for name in ("alarm_errors_threshold", "alarm_throttles_threshold", "alarm_api_5xx_threshold"):
        _check_int(name, getattr(args, name), 1, None)
    _check_int("alarm_duration_percent", args.alarm_duration_percent, 1, 100)
    # SQS keeps a message at most 14 days; a longer age can never be reached.
    _check_int("alarm_queue_age_seconds", args.alarm_queue_age_seconds, 60, 1_209_600)
