"""Photometric label relations used by APOGEE Net (Olney et al. 2020, AJ 159, 182).

Olney et al. (2020, Sec. 2.3.1) label low-mass main-sequence stars (M dwarfs)
from photometry, because The Payne's labels are unreliable for cool dwarfs,
and (Sec. 4.1) select young stellar objects by their position in the
Teff-log g plane.  Each relation below returns a :class:`Relation`
``(value, in_range)``; ``in_range`` is False where an input (or the result)
lies outside the validity range that Olney et al. state for the relation, or
is not finite.  Values are computed for every input -- callers decide what to
do with the flagged ones.  Ranges are closed intervals (the paper writes
strict inequalities; a value exactly on a bound is accepted).

Source: the plain-text copy of the paper (``../shared/papers/``, PDF-extracted;
equation layout partly garbled).  What was read there, and how:

* **Eq. 1** (Hejazi et al. 2015, AJ 149, 140), Sec. 2.3.1::

      [Fe/H] = A1 + A2 (g-K) + A3 (J-K) + A4 (g-K)**2 + A5 (J-K)**2 + A6 (g-K)(J-K)
      A = [-14.259, 0.0519, 29.5926, -0.0529, -17.6762, 0.7032]

  g is SDSS g, J and K are 2MASS.  In the extracted text the colour of the
  A5 term is lost ("A5( - K)^2"); it is (J-K)**2, the only quadratic term of
  the two colours not otherwise present.  With this reading the relation
  gives [Fe/H] between about -0.9 and +0.34 over the stated colour box,
  i.e. the calibrated metallicity span; the earlier implementation here
  (X = g - r, coefficient 4 on X*Y and 6 on X**2) does not follow the paper.
  Validity (Sec. 2.3.1): K6-M6.5, -0.73 < [Fe/H] < +0.3,
  3.3 < g-K < 8.46, 0.71 < J-K < 1.01.  The extracted text prints the g-K
  bounds without decimal points ("33 < g - K < 846"); 8.46 and 3.3 are the
  only physical readings, but the lower bound may have lost a digit (the
  Sec. 2.3.1 selection cut next to it reads "337", i.e. 3.37).  The paper
  also says it applied the relation "a few hundredths of a magnitude" beyond
  the calibrated g-K range; such stars are flagged here.

* **Eq. 2** (Mann et al. 2015, ApJ 804, 64), Sec. 2.3.1::

      Teff / 3500 K = B0 + B1 (r-J) + B2 (r-J)**2 + B3 (r-J)**3 + B4 (r-J)**4
                      + B5 (J-H) + B6 (J-H)**2
      B = [2.151, -1.092, 0.3767, -0.06292, 0.003950, 0.1697, -0.03106]

  r is SDSS r, J and H are 2MASS.  The left-hand side is garbled in the
  extracted text ("Tt ="); the 3500 K scale is Mann et al.'s normalization
  of these coefficients (the bare polynomial is ~1, e.g. 0.977 at r-J = 3,
  J-H = 0.6, i.e. 3420 K, inside the stated range).
  Validity: 2700 K < Teff < 4100 K and -0.6 < [Fe/H] < 0.5, and an absolute
  magnitude 4.6 < M < 9.8 whose band subscript is unreadable in the extracted
  text ("Mg"); the magnitude bound is therefore not checked here.

* **Eq. 3** (Veyette et al. 2017, ApJ 851, 26), Sec. 2.3.1::

      log g = 7.912 - 0.1880 [Fe/H] - 1.334e-3 Teff + 1.313e-7 Teff**2

  Validity: 3200 K < Teff < 4100 K and -0.7 < [Fe/H] < 0.3.

* **Sec. 4.1**, YSO region: the triangle with vertices (Teff, log g) =
  (2200 K, 4.4), (4500 K, 3.9), (3200 K, 1.7).

The ranges are constants of this module (:data:`HEJAZI2015_RANGE`,
:data:`MANN2015_RANGE`, :data:`VEYETTE2017_RANGE`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Relation", "hejazi2015_feh", "mann2015_teff", "veyette2017_logg",
           "in_yso_region", "HEJAZI2015_A", "MANN2015_B", "VEYETTE2017_C",
           "YSO_VERTICES", "HEJAZI2015_RANGE", "MANN2015_RANGE", "VEYETTE2017_RANGE"]

#: Olney et al. (2020) Eq. 1 coefficients A1..A6 (Hejazi et al. 2015), multiplying
#: 1, (g-K), (J-K), (g-K)**2, (J-K)**2, (g-K)(J-K) in that order.
HEJAZI2015_A = (-14.259, 0.0519, 29.5926, -0.0529, -17.6762, 0.7032)
#: Olney et al. (2020) Eq. 2 coefficients B0..B6 (Mann et al. 2015), multiplying
#: 1, (r-J), (r-J)**2, (r-J)**3, (r-J)**4, (J-H), (J-H)**2; result in units of 3500 K.
MANN2015_B = (2.151, -1.092, 0.3767, -0.06292, 0.003950, 0.1697, -0.03106)
#: Olney et al. (2020) Eq. 3 coefficients (Veyette et al. 2017): c0, c_feh, c_T, c_T2.
VEYETTE2017_C = (7.912, -0.1880, -1.334e-3, 1.313e-7)
#: Olney et al. (2020) Sec. 4.1 YSO triangle, (Teff [K], log g).
YSO_VERTICES = ((2200.0, 4.4), (4500.0, 3.9), (3200.0, 1.7))

#: Olney et al. (2020) Sec. 2.3.1, validity of Eq. 1 (g-K lower bound: see module docstring).
HEJAZI2015_RANGE = {"g_k": (3.3, 8.46), "j_k": (0.71, 1.01), "feh": (-0.73, 0.3)}
#: Olney et al. (2020) Sec. 2.3.1, validity of Eq. 2 (the absolute-magnitude bound is not used).
MANN2015_RANGE = {"teff": (2700.0, 4100.0), "feh": (-0.6, 0.5)}
#: Olney et al. (2020) Sec. 2.3.1, validity of Eq. 3.
VEYETTE2017_RANGE = {"teff": (3200.0, 4100.0), "feh": (-0.7, 0.3)}


class Relation(NamedTuple):
    """Result of a label relation: the value and whether it is trustworthy."""

    value: np.ndarray
    in_range: np.ndarray


def _within(a, lo_hi):
    lo, hi = lo_hi
    with np.errstate(invalid="ignore"):
        return np.isfinite(a) & (a >= lo) & (a <= hi)


def hejazi2015_feh(g_k, j_k) -> Relation:
    """[Fe/H] of M dwarfs from colours: Olney et al. (2020) Eq. 1 (Hejazi et al. 2015).

    ``[Fe/H] = A1 + A2 X + A3 Y + A4 X**2 + A5 Y**2 + A6 X Y`` with
    X = g - K, Y = J - K and A = :data:`HEJAZI2015_A`.

    Validity (Olney et al. 2020 Sec. 2.3.1, :data:`HEJAZI2015_RANGE`):
    3.3 <= g - K <= 8.46, 0.71 <= J - K <= 1.01, -0.73 <= [Fe/H] <= +0.3
    (K6-M6.5 dwarfs).

    Parameters
    ----------
    g_k, j_k : array_like
        SDSS g minus 2MASS K, and 2MASS J - K (mag), broadcastable.

    Returns
    -------
    Relation
        ``value`` [Fe/H] (dex); ``in_range`` False where a colour or the
        result is outside the validity range, or not finite.
    """
    X = np.asarray(g_k, dtype=float)
    Y = np.asarray(j_k, dtype=float)
    a1, a2, a3, a4, a5, a6 = HEJAZI2015_A
    feh = a1 + a2 * X + a3 * Y + a4 * X ** 2 + a5 * Y ** 2 + a6 * X * Y
    ok = (_within(X, HEJAZI2015_RANGE["g_k"]) & _within(Y, HEJAZI2015_RANGE["j_k"])
          & _within(feh, HEJAZI2015_RANGE["feh"]))
    return Relation(feh, ok)


def mann2015_teff(r_j, j_h, feh=None) -> Relation:
    """Teff of M dwarfs from colours: Olney et al. (2020) Eq. 2 (Mann et al. 2015).

    ``Teff = 3500 K * (B0 + B1 X + B2 X**2 + B3 X**3 + B4 X**4 + B5 Y + B6 Y**2)``
    with X = r - J, Y = J - H and B = :data:`MANN2015_B`.

    Validity (Olney et al. 2020 Sec. 2.3.1, :data:`MANN2015_RANGE`):
    2700 K <= Teff <= 4100 K and -0.6 <= [Fe/H] <= 0.5 (checked only when
    ``feh`` is given).  The paper's absolute-magnitude bound (4.6 < M < 9.8)
    is not checked: its band is unreadable in the available text.

    Parameters
    ----------
    r_j, j_h : array_like
        SDSS r minus 2MASS J, and 2MASS J - H (mag), broadcastable.
    feh : array_like, optional
        The star's [Fe/H] (dex), e.g. from :func:`hejazi2015_feh`; when given,
        stars outside the metallicity range are flagged too.

    Returns
    -------
    Relation
        ``value`` Teff (K); ``in_range`` False where Teff (or ``feh``) is
        outside the validity range, or an input is not finite.
    """
    X = np.asarray(r_j, dtype=float)
    Y = np.asarray(j_h, dtype=float)
    b0, b1, b2, b3, b4, b5, b6 = MANN2015_B
    poly = b0 + b1 * X + b2 * X ** 2 + b3 * X ** 3 + b4 * X ** 4 + b5 * Y + b6 * Y ** 2
    teff = 3500.0 * poly
    ok = _within(teff, MANN2015_RANGE["teff"])
    if feh is not None:
        ok = ok & _within(np.asarray(feh, dtype=float), MANN2015_RANGE["feh"])
    return Relation(teff, ok)


def veyette2017_logg(teff, feh) -> Relation:
    """log g of M dwarfs: Olney et al. (2020) Eq. 3 (Veyette et al. 2017).

    ``log g = 7.912 - 0.1880 [Fe/H] - 1.334e-3 Teff + 1.313e-7 Teff**2``
    (:data:`VEYETTE2017_C`).

    Validity (Olney et al. 2020 Sec. 2.3.1, :data:`VEYETTE2017_RANGE`):
    3200 K <= Teff <= 4100 K and -0.7 <= [Fe/H] <= 0.3.

    Parameters
    ----------
    teff : array_like
        Effective temperature (K).
    feh : array_like
        [Fe/H] (dex).

    Returns
    -------
    Relation
        ``value`` log g (dex, cgs); ``in_range`` False where Teff or [Fe/H]
        is outside the validity range, or not finite.
    """
    T = np.asarray(teff, dtype=float)
    Z = np.asarray(feh, dtype=float)
    c0, cz, ct, ct2 = VEYETTE2017_C
    logg = c0 + cz * Z + ct * T + ct2 * T ** 2
    ok = _within(T, VEYETTE2017_RANGE["teff"]) & _within(Z, VEYETTE2017_RANGE["feh"])
    return Relation(logg, ok)


def in_yso_region(teff, logg) -> np.ndarray:
    """True where (Teff, log g) lies in the YSO triangle of Olney et al. (2020) Sec. 4.1.

    The triangle has vertices (2200 K, 4.4), (4500 K, 3.9), (3200 K, 1.7)
    (:data:`YSO_VERTICES`; Sec. 4.1 and the Fig. 7 caption).  Points on an
    edge count as inside; non-finite inputs are outside.  Pure numpy
    (barycentric sign test), broadcasting.
    """
    T = np.asarray(teff, dtype=float)
    G = np.asarray(logg, dtype=float)
    # scale Teff so both axes are O(1) and the edge tolerance is meaningful
    t = T / 1000.0
    (x1, y1), (x2, y2), (x3, y3) = [(a / 1000.0, b) for a, b in YSO_VERTICES]

    def side(xa, ya, xb, yb):
        return (xb - xa) * (G - ya) - (yb - ya) * (t - xa)

    d1, d2, d3 = side(x1, y1, x2, y2), side(x2, y2, x3, y3), side(x3, y3, x1, y1)
    eps = 1e-12
    has_neg = (d1 < -eps) | (d2 < -eps) | (d3 < -eps)
    has_pos = (d1 > eps) | (d2 > eps) | (d3 > eps)
    return np.isfinite(T) & np.isfinite(G) & ~(has_neg & has_pos)
