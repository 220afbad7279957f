"""`python -m bench`: the project's handler against a faithful recreation of the tutorial's, side by side."""
