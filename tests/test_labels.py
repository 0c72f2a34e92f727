"""Label relations of Olney et al. (2020) Eqs. 1-3 and the Sec. 4.1 YSO region."""
import numpy as np
import pytest

from zoo.families.apogee.labels import (hejazi2015_feh, in_yso_region, mann2015_teff,
                        veyette2017_logg)


def test_hejazi_by_hand():
    # X = g-r, Y = J-K: A0 + A1 X + A2 Y + A3 XY + A4 Y^2 + A5 X^2
    X, Y = 1.4, 0.85
    hand = (-14.259 + 0.0519 * 1.4 + 29.5926 * 0.85 - 0.0529 * 1.4 * 0.85
            - 17.6762 * 0.85 ** 2 + 0.7032 * 1.4 ** 2)
    r = hejazi2015_feh(X, Y)
    assert float(r.value) == pytest.approx(hand, abs=1e-12)
    assert bool(r.in_range)
    X, Y = 1.6, 0.9
    hand2 = (-14.259 + 0.0519 * X + 29.5926 * Y - 0.0529 * X * Y
             - 17.6762 * Y * Y + 0.7032 * X * X)
    v = hejazi2015_feh([1.4, 1.6], [0.85, 0.9])
    np.testing.assert_allclose(v.value, [hand, hand2], atol=1e-12)


def test_hejazi_flags():
    r = hejazi2015_feh([0.5, 1.4, np.nan], [0.85, 1.5, 0.85])
    assert r.in_range.tolist() == [False, False, False]


def test_mann_by_hand():
    X, Y = 2.5, 0.6
    poly = (2.151 - 1.092 * X + 0.3767 * X ** 2 - 0.06292 * X ** 3 + 0.003950 * X ** 4
            + 0.1697 * Y - 0.03106 * Y ** 2)
    r = mann2015_teff(X, Y)
    assert float(r.value) == pytest.approx(3500 * poly, rel=1e-12)
    assert bool(r.in_range)
    X, Y = 4.0, 0.55
    poly2 = (2.151 - 1.092 * X + 0.3767 * X ** 2 - 0.06292 * X ** 3 + 0.003950 * X ** 4
             + 0.1697 * Y - 0.03106 * Y ** 2)
    assert float(mann2015_teff(X, Y).value) == pytest.approx(3500 * poly2, rel=1e-12)


def test_mann_flags():
    r = mann2015_teff([0.5, 2.5, 7.0], [0.6, 0.6, 0.6])
    assert r.in_range.tolist() == [False, True, False]


def test_veyette_by_hand():
    for T, Z in ((3500.0, 0.0), (3200.0, -0.3)):
        hand = 7.912 - 0.1880 * Z - 1.334e-3 * T + 1.313e-7 * T * T
        r = veyette2017_logg(T, Z)
        assert float(r.value) == pytest.approx(hand, abs=1e-12)
        assert bool(r.in_range)
    assert veyette2017_logg(3500.0, 0.0).value == pytest.approx(4.851425, abs=1e-6)


def test_veyette_flags():
    r = veyette2017_logg([5500.0, 3500.0, 3500.0, np.nan], [0.0, -1.5, 0.2, 0.0])
    assert r.in_range.tolist() == [False, False, True, False]


def test_yso_polygon():
    inside = in_yso_region([3200.0, 3300.0, 2500.0, 4300.0], [3.5, 2.5, 4.2, 3.9])
    assert inside.all()
    outside = in_yso_region([3200.0, 5000.0, 3000.0, 2200.0, 3800.0, np.nan],
                            [4.9, 3.0, 1.0, 3.0, 2.0, 3.5])
    assert not outside.any()
    # vertices count as inside
    assert in_yso_region([2200.0, 4500.0, 3200.0], [4.4, 3.9, 1.7]).all()
    # broadcasting over a grid
    T, G = np.meshgrid(np.linspace(2000, 5000, 31), np.linspace(1, 5, 41))
    m = in_yso_region(T, G)
    assert m.shape == T.shape and 0 < m.sum() < m.size
