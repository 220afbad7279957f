"""One Lambda-like execution environment: a fresh interpreter imports a handler, then serves events.

Run as a script (not `-m bench...`) so nothing but the handler's own imports is timed.
Prints one JSON line: timings in seconds, peak RSS in MB, and the first response's predictions.
"""

import importlib
import json
import resource
import sys
import time


class Context:
    """The attributes of Lambda's context object a handler may read."""

    aws_request_id = "bench"
    function_name = "bench"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        """A fixed budget: the benchmark never approaches it."""
        return 15_000


def peak_rss_mb() -> float:
    """This process's peak resident memory. ru_maxrss is not used: Linux carries the parent's value across exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Import, answer the batch event once (cold), then repeat batch and single-row events (warm)."""
    spawned = float(sys.argv[2])
    config = json.loads(open(sys.argv[1]).read())
    sys.path.insert(0, config["task_root"])
    module = importlib.import_module(config["module"])
    ready = time.time()
    first = module.handler(config["batch_event"], Context())
    done = time.time()
    if first["statusCode"] != 200:
        raise SystemExit(f"cold batch call failed: {first['statusCode']} {first['body'][:300]}")
    batch, single = [], []
    for _ in range(config["warm_batch"]):
        start = time.perf_counter()
        module.handler(config["batch_event"], Context())
        batch.append(time.perf_counter() - start)
    for _ in range(config["warm_single"]):
        start = time.perf_counter()
        reply = module.handler(config["single_event"], Context())
        single.append(time.perf_counter() - start)
    if config["warm_single"] and reply["statusCode"] != 200:
        raise SystemExit(f"single-row call failed: {reply['statusCode']} {reply['body'][:300]}")
    print(json.dumps({
        "init_s": ready - spawned, "cold_s": done - spawned, "batch_s": batch, "single_s": single,
        "peak_rss_mb": peak_rss_mb(),
        "predictions": json.loads(first["body"])["predictions"],
    }))


if __name__ == "__main__":
    main()
