"""Reusable Pulumi components of MnistPredictor (installed as `mnist_predictor`)."""

from .args import MnistPredictorArgs
from .predictor import MnistPredictor

__all__ = ["MnistPredictor", "MnistPredictorArgs"]
