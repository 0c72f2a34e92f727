"""Photometric label relations used by APOGEE Net (Olney et al. 2020, AJ 159, 182).

Olney et al. (2020, Sec. 2.3) label M dwarfs and pre-main-sequence stars from
photometry because model-atmosphere fits (ASPCAP) are unreliable there, and
(Sec. 4.1) select young stellar objects by their position in the Teff-log g
plane.  Each relation below returns a :class:`Relation` ``(value, in_range)``;
``in_range`` is False where an input (or the result) lies outside the range
the relation was calibrated on, or is not finite.  Values are computed for
every input -- callers decide what to do with the flagged ones.

Functional forms
----------------
The coefficient vectors are those quoted by Olney et al. (2020) Eqs. 1-3.
The exact published variables of Eqs. 1 and 2 could not be re-checked
against the papers offline; the forms implemented are stated here and in each
docstring so they can be verified:

* Eq. 1, [Fe/H] (Hejazi et al. 2015, AJ 149, 140; an optical-near-infrared
  *photometric* calibration), implemented as the general quadratic in two
  colours, X = g - r (SDSS) and Y = J - K_s (2MASS)::

      [Fe/H] = A0 + A1 X + A2 Y + A3 X Y + A4 Y**2 + A5 X**2
      A = [-14.259, 0.0519, 29.5926, -0.0529, -17.6762, 0.7032]

* Eq. 2, Teff (Mann et al. 2015, ApJ 804, 64, Table 2 form with a J - H
  term), X = r - J, Y = J - H::

      Teff / 3500 K = B0 + B1 X + B2 X**2 + B3 X**3 + B4 X**4 + B5 Y + B6 Y**2
      B = [2.151, -1.092, 0.3767, -0.06292, 0.003950, 0.1697, -0.03106]

* Eq. 3, log g (Veyette et al. 2017, ApJ 851, 26)::

      log g = 7.912 - 0.1880 [Fe/H] - 1.334e-3 Teff + 1.313e-7 Teff**2

* Sec. 4.1, YSO region: the triangle with vertices (Teff, log g) =
  (2200 K, 4.4), (4500 K, 3.9), (3200 K, 1.7).

Calibrated ranges adopted (flags)
---------------------------------
* Hejazi et al. (2015): late-K to mid-M dwarfs; colours
  1.0 <= g - r <= 1.8 and 0.7 <= J - K_s <= 1.0, result -1.0 <= [Fe/H] <= +0.5
  (the metallicity span of their calibration sample).
* Mann et al. (2015): 2700 K <= Teff <= 4100 K (their K7-M7 calibrators),
  colours 1.5 <= r - J <= 6.0 and 0.3 <= J - H <= 0.9.
* Veyette et al. (2017): M dwarfs 3000 K <= Teff <= 4200 K and
  -0.6 <= [Fe/H] <= +0.5.
These bounds are the envelopes of the calibration samples as we read them,
rounded outward slightly; they are constants of this module
(:data:`HEJAZI2015_RANGE`, :data:`MANN2015_RANGE`, :data:`VEYETTE2017_RANGE`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Relation", "hejazi2015_feh", "mann2015_teff", "veyette2017_logg",
           "in_yso_region", "HEJAZI2015_A", "MANN2015_B", "VEYETTE2017_C",
           "YSO_VERTICES", "HEJAZI2015_RANGE", "MANN2015_RANGE", "VEYETTE2017_RANGE"]

#: Olney et al. (2020) Eq. 1 coefficients (Hejazi et al. 2015).
HEJAZI2015_A = (-14.259, 0.0519, 29.5926, -0.0529, -17.6762, 0.7032)
#: Olney et al. (2020) Eq. 2 coefficients (Mann et al. 2015).
MANN2015_B = (2.151, -1.092, 0.3767, -0.06292, 0.003950, 0.1697, -0.03106)
#: Olney et al. (2020) Eq. 3 coefficients (Veyette et al. 2017): c0, c_feh, c_T, c_T2.
VEYETTE2017_C = (7.912, -0.1880, -1.334e-3, 1.313e-7)
#: Olney et al. (2020) Sec. 4.1 YSO triangle, (Teff [K], log g).
YSO_VERTICES = ((2200.0, 4.4), (4500.0, 3.9), (3200.0, 1.7))

HEJAZI2015_RANGE = {"g_r": (1.0, 1.8), "j_k": (0.7, 1.0), "feh": (-1.0, 0.5)}
MANN2015_RANGE = {"r_j": (1.5, 6.0), "j_h": (0.3, 0.9), "teff": (2700.0, 4100.0)}
VEYETTE2017_RANGE = {"teff": (3000.0, 4200.0), "feh": (-0.6, 0.5)}


class Relation(NamedTuple):
    """Result of a label relation: the value and whether it is trustworthy."""

    value: np.ndarray
    in_range: np.ndarray


def _within(a, lo_hi):
    lo, hi = lo_hi
    with np.errstate(invalid="ignore"):
        return np.isfinite(a) & (a >= lo) & (a <= hi)


def hejazi2015_feh(g_r, j_k) -> Relation:
    """[Fe/H] of M dwarfs from colours, Olney et al. (2020) Eq. 1 (Hejazi et al. 2015).

    ``[Fe/H] = A0 + A1 X + A2 Y + A3 X Y + A4 Y**2 + A5 X**2`` with
    X = g - r, Y = J - K_s and A = :data:`HEJAZI2015_A` (see the module
    docstring for the reading of the variables).

    Parameters
    ----------
    g_r, j_k : array_like
        SDSS g - r and 2MASS J - K_s colours (mag), broadcastable.

    Returns
    -------
    Relation
        ``value`` [Fe/H] (dex); ``in_range`` False outside
        :data:`HEJAZI2015_RANGE` (colours or result).
    """
    X = np.asarray(g_r, dtype=float)
    Y = np.asarray(j_k, dtype=float)
    A = HEJAZI2015_A
    feh = A[0] + A[1] * X + A[2] * Y + A[3] * X * Y + A[4] * Y ** 2 + A[5] * X ** 2
    ok = (_within(X, HEJAZI2015_RANGE["g_r"]) & _within(Y, HEJAZI2015_RANGE["j_k"])
          & _within(feh, HEJAZI2015_RANGE["feh"]))
    return Relation(feh, ok)


def mann2015_teff(r_j, j_h) -> Relation:
    """Teff of M dwarfs from colours, Olney et al. (2020) Eq. 2 (Mann et al. 2015).

    ``Teff = 3500 K * (B0 + B1 X + B2 X**2 + B3 X**3 + B4 X**4 + B5 Y + B6 Y**2)``
    with X = r - J, Y = J - H and B = :data:`MANN2015_B`.

    Parameters
    ----------
    r_j, j_h : array_like
        SDSS r minus 2MASS J, and 2MASS J - H (mag), broadcastable.

    Returns
    -------
    Relation
        ``value`` Teff (K); ``in_range`` False outside :data:`MANN2015_RANGE`.
    """
    X = np.asarray(r_j, dtype=float)
    Y = np.asarray(j_h, dtype=float)
    B = MANN2015_B
    poly = (B[0] + B[1] * X + B[2] * X ** 2 + B[3] * X ** 3 + B[4] * X ** 4
            + B[5] * Y + B[6] * Y ** 2)
    teff = 3500.0 * poly
    ok = (_within(X, MANN2015_RANGE["r_j"]) & _within(Y, MANN2015_RANGE["j_h"])
          & _within(teff, MANN2015_RANGE["teff"]))
    return Relation(teff, ok)


def veyette2017_logg(teff, feh) -> Relation:
    """log g of M dwarfs, Olney et al. (2020) Eq. 3 (Veyette et al. 2017).

    ``log g = 7.912 - 0.1880 [Fe/H] - 1.334e-3 Teff + 1.313e-7 Teff**2``

    Parameters
    ----------
    teff : array_like
        Effective temperature (K).
    feh : array_like
        [Fe/H] (dex).

    Returns
    -------
    Relation
        ``value`` log g (dex, cgs); ``in_range`` False outside
        :data:`VEYETTE2017_RANGE`.
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
    (:data:`YSO_VERTICES`).  Points on an edge count as inside; non-finite
    inputs are outside.  Pure numpy (barycentric sign test), broadcasting.
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
