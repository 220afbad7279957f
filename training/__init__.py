"""Training pipeline: `python -m training` writes the model folder the function image bakes in."""
