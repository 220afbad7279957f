"""The Pulumi package `mnist`: the engine runs `python components <engine-address>` and talks to it over gRPC."""

import importlib
import sys
from pathlib import Path
from types import ModuleType

PACKAGE_NAME = "mnist"


def _package() -> ModuleType:
    """This folder's package: `components` in the repository, `mnist_predictor` when pip-installed."""
    if __package__:  # python -m components / python -m mnist_predictor
        return importlib.import_module(__package__)
    # Run as a script (what the engine does), sys.path[0] is this folder, whose modules must not shadow top-level
    # names and cannot be imported relatively: import the folder as the package it is, from its parent.
    here = Path(__file__).resolve().parent
    sys.path[0] = str(here.parent)
    return importlib.import_module(here.name)


if __name__ == "__main__":
    package = _package()  # first, so nothing is imported while this folder is still sys.path[0]
    from pulumi.provider.experimental import component_provider_host

    component_provider_host(components=[package.MnistPredictor], name=PACKAGE_NAME, version=package.__version__)
