"""Reusable Pulumi components of MnistPredictor (installed as `mnist_predictor`; a Pulumi package named `mnist`)."""

from .args import MnistPredictorArgs
from .predictor import MnistPredictor

# The one version number: pyproject.toml reads it for pip, and the Pulumi package serves it in its schema.
__version__ = "0.1.0"

__all__ = ["MnistPredictor", "MnistPredictorArgs"]
