"""Local mode, our `sam local start-api`: embedded S3 plus a real HTTP server in front of the same handler.

Kept out of the image by function/.dockerignore.
"""

import os

# The image's setting (function/Dockerfile ENV), applied before anything imports numpy: the handler runs in this
# process, and OpenBLAS reads these once, when it loads. An explicit setting in the environment wins.
BLAS_THREADS = "1"
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, BLAS_THREADS)
