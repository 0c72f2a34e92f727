"""Small statistics the zoo reports with its figures (numpy and the standard library only, so
that the base install has them)."""
from __future__ import annotations

from math import exp, lgamma, log, log1p

__all__ = ["clopper_pearson", "LEVEL", "MAD_TO_SIGMA"]

#: the confidence level of the intervals the zoo reports (``clopper_pearson``'s default)
LEVEL = 0.95
#: sigma of Gaussian noise per unit of its median absolute deviation (1 / Phi^-1(3/4), to the 4 decimals every
#: robust scatter of the zoo uses)
MAD_TO_SIGMA = 1.4826


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> list[float]:
    """Exact (Clopper-Pearson) binomial interval of ``k`` successes in ``n`` (bisection on the
    binomial tail sums: no scipy in the base install); ``[nan, nan]`` for ``n = 0``."""
    if n == 0:
        return [float("nan"), float("nan")]

    lg_n = lgamma(n + 1)

    def tail_ge(x, kk):   # P[X >= kk], X ~ Bin(n, x): increasing in x; terms in log space (large n)
        if x <= 0.0:
            return 0.0 if kk > 0 else 1.0
        if x >= 1.0:
            return 1.0
        lx, l1x = log(x), log1p(-x)
        return sum(exp(lg_n - lgamma(i + 1) - lgamma(n - i + 1) + i * lx + (n - i) * l1x) for i in range(kk, n + 1))

    def root(f, target):  # f increasing on [0, 1]
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
        return 0.5 * (lo + hi)
    a = (1 - level) / 2
    lower = 0.0 if k == 0 else root(lambda x: tail_ge(x, k), a)
    upper = 1.0 if k == n else root(lambda x: tail_ge(x, k + 1), 1 - a)
    return [float(lower), float(upper)]
