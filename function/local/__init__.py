"""Local mode, our `sam local start-api`: embedded S3 plus a real HTTP server in front of the same handler.

Kept out of the image by function/.dockerignore.
"""

import os

# The image's setting (function/Dockerfile ENV), applied before anything imports numpy: the handler runs in this
# process, and OpenBLAS reads these once, when it loads. An explicit setting in the environment wins.
BLAS_THREADS = "1"
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, BLAS_THREADS)


def _cap_malloc_arenas(count: int = 2) -> None:
    """Limit glibc to a few malloc arenas: one thread per connection would otherwise each keep an arena's freed
    batches, and eight concurrent near-limit requests then held about 350 MB instead of about 210 MB (measured)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(-8, count)  # M_ARENA_MAX; Lambda's one request at a time never needs this
    except OSError:  # not glibc (macOS, musl): the default allocator stays
        pass


if "MALLOC_ARENA_MAX" not in os.environ:
    _cap_malloc_arenas()
