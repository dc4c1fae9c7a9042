"""One thread count for every library of a benchmark: call `pin_threads` before numpy / torch are imported."""

import os


def pin_threads(threads: int) -> None:
    """Size every BLAS and OpenMP pool alike, and keep idle threads from spinning on shared cores."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
