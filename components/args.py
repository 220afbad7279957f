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
    reserved_concurrency: int | None = 10
    """Concurrent executions reserved, which also caps them as a cost guard; None leaves the function unreserved."""
    provisioned_concurrency: int = 0
    """Pre-warmed instances behind a 'live' alias, removing cold starts at a fixed hourly cost; 0 disables."""
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
    use_buildkit: bool = False
    """Build with BuildKit instead of the classic builder; see the README on Lambda's manifest media types."""
    function_dir: str | None = None
    """The function folder (Dockerfile, handler, model/); default: the one shipped with this package."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags added to every taggable child resource."""

    # --- batch scoring: incoming/ -> SQS -> batch function -> predictions/ (docs/batch.md) ---
    batch: bool = True
    """Score objects written under incoming/ with a second function fed through SQS; False leaves it all out."""
    batch_memory_size: int = 1024
    """Batch function memory in MB (128-10240); 1024 scores a million MNIST rows with room to spare (docs/batch.md)."""
    batch_timeout: int = 300
    """Batch function timeout in seconds (1-900); the queue's visibility timeout is six times this."""
    batch_max_concurrency: int = 10
    """Most batch functions running at once (2-1000): the fan-out and cost knob of the event source mapping."""
    batch_size: int = 1
    """SQS messages (objects) per batch invocation (1-10); 1 gives each object its own function and timeout."""

    def __post_init__(self) -> None:
        """Fail fast, naming the allowed values."""
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be 'x86_64' or 'arm64', got {self.architecture!r}")
        if self.auth not in AUTH_MODES:
            raise ValueError(f"auth must be 'iam' or 'none', got {self.auth!r}")
        _check_int("memory_size", self.memory_size, 128, 10240)
        _check_int("timeout", self.timeout, 1, MAX_TIMEOUT_S)
        if self.reserved_concurrency is not None:
            _check_int("reserved_concurrency", self.reserved_concurrency, 0, None)
        _check_int("provisioned_concurrency", self.provisioned_concurrency, 0, None)
        if self.reserved_concurrency is not None and self.provisioned_concurrency > self.reserved_concurrency:
            raise ValueError(f"provisioned_concurrency ({self.provisioned_concurrency}) cannot exceed "
                             f"reserved_concurrency ({self.reserved_concurrency})")
        _check_int("throttling_burst_limit", self.throttling_burst_limit, 1, None)
        if not isinstance(self.throttling_rate_limit, (int, float)) or self.throttling_rate_limit <= 0:
            raise ValueError(f"throttling_rate_limit must be a positive number, got {self.throttling_rate_limit!r}")
        if self.log_retention_days not in RETENTION_DAYS:
            raise ValueError(f"log_retention_days must be one of {RETENTION_DAYS}, got {self.log_retention_days!r}")
        _check_int("image_keep_count", self.image_keep_count, 1, 1000)
        if self.input_prefix.startswith("/") or "*" in self.input_prefix:
            raise ValueError(f"input_prefix must be a plain key prefix without '/' at the start or '*', "
                             f"got {self.input_prefix!r}")
        self._check_batch()

    def _check_batch(self) -> None:
        if not isinstance(self.batch, bool):
            raise ValueError(f"batch must be true or false, got {self.batch!r}")
        _check_int("batch_memory_size", self.batch_memory_size, 128, 10240)
        _check_int("batch_timeout", self.batch_timeout, 1, 900)  # Lambda's maximum
        _check_int("batch_max_concurrency", self.batch_max_concurrency, 2, 1000)  # the mapping's allowed range
        _check_int("batch_size", self.batch_size, 1, 10)  # more needs a batching window; one object is enough work

    @property
    def platform(self) -> str:
        """The Docker platform matching the Lambda architecture."""
        return ARCHITECTURES[self.architecture]


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise ValueError(f"{name} must be a whole number {allowed}, got {value!r}")
