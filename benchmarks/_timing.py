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


def interleaved_best(fns: dict, rounds: int, pause: float = 0.2) -> tuple[dict, dict]:
    """Best wall time of each callable in ``fns`` over ``rounds`` rounds that call every one of
    them once, in turn (after one warm-up call each), so that a change in the machine's load
    during the measurement affects all of them alike.  ``pause`` seconds between calls let the
    previous library's worker threads stop spinning before the next one starts.  A callable that raises is dropped and
    its error reported: returns ``({key: seconds}, {key: "Error: message"})``."""
    best, errors, live = {}, {}, dict(fns)
    for key, fn in list(live.items()):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001  (a backend that cannot run is reported, not fatal)
            errors[key] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
            del live[key]
    for r in range(rounds):
        keys = list(live)
        keys = keys[r % len(keys):] + keys[:r % len(keys)] if keys else keys   # rotate the order
        for key in keys:
            time.sleep(pause)
            t = time.perf_counter()
            live[key]()
            best[key] = min(best.get(key, float("inf")), time.perf_counter() - t)
    return best, errors
