"""Timing helper shared by the benchmarks (run them as ``python benchmarks/<name>.py``)."""
import time


def best_of(fn, repeats):
    """Best wall time of ``repeats`` calls of ``fn`` after one warm-up call (graph tracing,
    session initialization)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
