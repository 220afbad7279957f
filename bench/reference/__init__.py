"""REFERENCE ONLY, do not deploy: the SAM tutorial's implementation, recreated to measure against.

Faithful to its flaws on purpose: a joblib-pickled float64 KNN, batches stored as joblib-pickled DataFrames,
and a handler that unpickles whatever bucket and key the caller names.
"""
