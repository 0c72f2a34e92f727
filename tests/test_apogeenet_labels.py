"""Label relations of Olney et al. (2020) Eqs. 1-3 and the Sec. 4.1 YSO region.

Expected values are worked out by hand from the coefficients printed in the
paper (Sec. 2.3.1), term by term; the numbers in the comments are the plain
float products, and the tests compare the code against those literals.
"""
import numpy as np
import pytest

from zoo.families.apogeenet.labels import (hejazi2015_feh, in_yso_region, mann2015_teff,
                                        veyette2017_logg)


def test_hejazi_eq1_by_hand():
    # Eq. 1: [Fe/H] = A1 + A2(g-K) + A3(J-K) + A4(g-K)^2 + A5(J-K)^2 + A6(g-K)(J-K)
    # A = [-14.259, 0.0519, 29.5926, -0.0529, -17.6762, 0.7032]
    #
    # g-K = 5.0, J-K = 0.85:
    #   -14.259
    #   + 0.0519   * 5.0        = + 0.2595
    #   + 29.5926  * 0.85       = +25.15371
    #   - 0.0529   * 25.0       = - 1.3225
    #   - 17.6762  * 0.7225     = -12.7710545
    #   + 0.7032   * 4.25       = + 2.9886
    #   = 0.0492555
    r = hejazi2015_feh(5.0, 0.85)
    assert float(r.value) == pytest.approx(0.0492555, abs=1e-9)
    assert bool(r.in_range)
    # g-K = 4.0, J-K = 0.80:
    #   -14.259 + 0.0519*4.0 (0.2076) + 29.5926*0.80 (23.67408)
    #   - 0.0529*16.0 (0.8464) - 17.6762*0.64 (11.312768) + 0.7032*3.2 (2.25024)
    #   = -0.286248
    v = hejazi2015_feh([5.0, 4.0], [0.85, 0.80])
    np.testing.assert_allclose(v.value, [0.0492555, -0.286248], atol=1e-9)
    assert v.in_range.tolist() == [True, True]


def test_hejazi_eq1_ranges():
    # Sec. 2.3.1: 3.3 < g-K < 8.46, 0.71 < J-K < 1.01, -0.73 < [Fe/H] < +0.3.
    # (3.0, 0.85): g-K below; (5.0, 0.65): J-K below; (5.0, 1.05): J-K above;
    # (8.46, 0.71): colours on the bounds but [Fe/H] = -1.28 < -0.73;
    # (nan, 0.85): not finite; (5.0, 0.85): inside (0.049, above).
    r = hejazi2015_feh([3.0, 5.0, 5.0, 8.46, np.nan, 5.0],
                       [0.85, 0.65, 1.05, 0.71, 0.85, 0.85])
    assert r.in_range.tolist() == [False, False, False, False, False, True]
    assert float(r.value[3]) < -0.73


def test_mann_eq2_by_hand():
    # Eq. 2: Teff = 3500 K * (B0 + B1 X + B2 X^2 + B3 X^3 + B4 X^4 + B5 Y + B6 Y^2),
    # X = r-J, Y = J-H, B = [2.151, -1.092, 0.3767, -0.06292, 0.003950, 0.1697, -0.03106]
    #
    # X = 3.0, Y = 0.6:
    #   2.151 - 1.092*3 (3.276) + 0.3767*9 (3.3903) - 0.06292*27 (1.69884)
    #   + 0.003950*81 (0.31995) + 0.1697*0.6 (0.10182) - 0.03106*0.36 (0.0111816)
    #   = 0.9770484  ->  Teff = 3500 * 0.9770484 = 3419.6694 K
    r = mann2015_teff(3.0, 0.6)
    assert float(r.value) == pytest.approx(3419.6694, abs=1e-6)
    assert bool(r.in_range)
    # X = 4.0, Y = 0.55:
    #   2.151 - 1.092*4 (4.368) + 0.3767*16 (6.0272) - 0.06292*64 (4.02688)
    #   + 0.003950*256 (1.0112) + 0.1697*0.55 (0.093335) - 0.03106*0.3025 (0.00939565)
    #   = 0.87845935  ->  Teff = 3074.607725 K
    r = mann2015_teff(4.0, 0.55)
    assert float(r.value) == pytest.approx(3074.607725, abs=1e-6)
    assert bool(r.in_range)


def test_mann_eq2_ranges():
    # Sec. 2.3.1: 2700 K < Teff < 4100 K, -0.6 < [Fe/H] < 0.5.
    # X = 1.0, Y = 0.6: 2.151 - 1.092 + 0.3767 - 0.06292 + 0.00395 + 0.10182
    #   - 0.0111816 = 1.4673684 -> 5135.8 K, above 4100 K.
    r = mann2015_teff([1.0, 3.0, np.nan], [0.6, 0.6, 0.6])
    assert float(r.value[0]) == pytest.approx(5135.7894, abs=1e-3)
    assert r.in_range.tolist() == [False, True, False]
    # with [Fe/H]: 0.6 and -0.65 outside, 0.0 and 0.5 (bound) inside
    r = mann2015_teff(3.0, 0.6, feh=[0.6, -0.65, 0.0, 0.5])
    assert r.in_range.tolist() == [False, False, True, True]


def test_veyette_eq3_by_hand():
    # Eq. 3: log g = 7.912 - 0.1880 [Fe/H] - 1.334e-3 Teff + 1.313e-7 Teff^2
    # Teff = 3500, [Fe/H] = 0.0:
    #   7.912 - 0 - 4.669 + 1.313e-7 * 12,250,000 (1.608425) = 4.851425
    # Teff = 3800, [Fe/H] = -0.3:
    #   7.912 + 0.0564 - 5.0692 + 1.313e-7 * 14,440,000 (1.895972) = 4.795172
    r = veyette2017_logg([3500.0, 3800.0], [0.0, -0.3])
    np.testing.assert_allclose(r.value, [4.851425, 4.795172], atol=1e-9)
    assert r.in_range.tolist() == [True, True]


def test_veyette_eq3_ranges():
    # Sec. 2.3.1: 3200 K < Teff < 4100 K, -0.7 < [Fe/H] < 0.3.
    r = veyette2017_logg([3100.0, 4150.0, 3500.0, 3500.0, 3500.0, np.nan, 3200.0],
                         [0.0, 0.0, 0.4, -0.75, -0.65, 0.0, 0.3])
    assert r.in_range.tolist() == [False, False, False, False, True, False, True]


def test_yso_polygon():
    inside = in_yso_region([3200.0, 3300.0, 2500.0, 4300.0], [3.5, 2.5, 4.2, 3.9])
    assert inside.all()
    outside = in_yso_region([3200.0, 5000.0, 3000.0, 2200.0, 3800.0, np.nan],
                            [4.9, 3.0, 1.0, 3.0, 2.0, 3.5])
    assert not outside.any()
    # vertices (Sec. 4.1: (2200, 4.4), (4500, 3.9), (3200, 1.7)) count as inside
    assert in_yso_region([2200.0, 4500.0, 3200.0], [4.4, 3.9, 1.7]).all()
    # broadcasting over a grid
    T, G = np.meshgrid(np.linspace(2000, 5000, 31), np.linspace(1, 5, 41))
    m = in_yso_region(T, G)
    assert m.shape == T.shape and 0 < m.sum() < m.size
