"""The prediction cores alone, in one fresh process at the thread count its environment sets.

Run as a script by bench/runner.py with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS set, as a deployment would set them:
the project's KnnModel.predict on the uint8 rows, the reference's KNeighborsClassifier.predict on float64 rows (a
DataFrame, as it was fitted), the two alternating. Prints one JSON line: each side's batch times in seconds and the
BLAS threads threadpoolctl saw.
"""

import json
import sys
import time
from pathlib import Path


def main() -> None:
    """Load both models, check they agree with themselves, then time alternating batch predictions."""
    config = json.loads(Path(sys.argv[1]).read_text())
    sys.path.insert(0, config["task_root"])
    import joblib
    import numpy as np
    import pandas as pd
    from knn import KnnModel
    from threadpoolctl import threadpool_info

    X = np.load(config["batch"], allow_pickle=False)
    project = KnnModel.load(Path(config["project_model"]) / "model.npz")
    reference = joblib.load(config["reference_model"])
    frame = pd.DataFrame(X.astype(np.float64), columns=list(reference.feature_names_in_))
    # Warm-up: the first calls fault pages in and start the thread pools.
    project.predict(X)
    reference.predict(frame)
    times: dict[str, list[float]] = {"project": [], "reference": []}
    for _ in range(config["repeats"]):
        for name, call in (("project", lambda: project.predict(X)), ("reference", lambda: reference.predict(frame))):
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    print(json.dumps({**times, "blas_threads": blas, "rows": len(X)}))


if __name__ == "__main__":
    main()
