"""The image's build context when the model lives outside the function folder (the `model_dir` argument)."""

import hashlib
import shutil
import tempfile
from pathlib import Path

# What the image and the sample upload read from model/; anything else a training run leaves there stays out.
MODEL_NAMES = ("model.npz", "metadata.json", "test_features.npy")


def staged_build_context(function_dir: Path, model_dir: Path, name: str) -> Path:
    """A copy of the function folder with model_dir's model in model/, at a path stable for these inputs."""
    key = hashlib.sha256(f"{function_dir.resolve()}\0{model_dir.resolve()}\0{name}".encode()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "mnist-predictor-build" / f"{name}-{key}"
    # The path is stable so the image input does not change between runs; the content is rebuilt each run and
    # swapped in whole, so a build never sees a half-copied folder.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        shutil.copytree(function_dir, staging, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("model", "local", "__pycache__", "*.pyc"))
        (staging / "model").mkdir()
        for file in MODEL_NAMES:
            if (model_dir / file).is_file():
                shutil.copy2(model_dir / file, staging / "model" / file)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target

