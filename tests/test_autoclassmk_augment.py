"""AutoClassMK augmentation statistics and seeding (Short 2026, Sec. II)."""
import numpy as np
import pytest

from zoo.families.autoclassmk.augment import AugmentConfig, augment, augment_dataset

WAVE = 3800.0 + 0.5 * np.arange(1600)
OFF = dict(zero_point_sigma=0.0, dispersion_sigma=0.0, doppler_sigma_kms=0.0,
           continuum_sigmas=(0.0, 0.0, 0.0), broadening_sigma_px=0.0, gain=0.0)


def test_poisson_noise_of_flat_spectrum_matches_gain():
    out = augment(np.ones((500, 1600)), WAVE, np.random.default_rng(0), AugmentConfig(**{**OFF, "gain": 5000.0}))
    assert out.std() == pytest.approx(np.sqrt(1 / 5000), rel=0.02)
    assert out.mean() == pytest.approx(1.0, abs=1e-3)
    half = augment(0.5 * np.ones((500, 1600)), WAVE, np.random.default_rng(0), AugmentConfig(**{**OFF, "gain": 5000.0}))
    assert half.std() == pytest.approx(np.sqrt(0.5 / 5000), rel=0.02)   # sigma = sqrt(f / g)


def _line():
    return (1.0 - 0.5 * np.exp(-0.5 * ((WAVE - 4200.0) / 1.5) ** 2))[None, :]


def _centroid(f):
    d = 1.0 - f
    return (d * WAVE).sum(1) / d.sum(1)


def test_zero_point_shift_statistics():
    cfg = AugmentConfig(**{**OFF, "zero_point_sigma": 0.030})
    out = augment(np.repeat(_line(), 4000, 0), WAVE, np.random.default_rng(1), cfg)
    shift = _centroid(out) - 4200.0
    assert shift.std() == pytest.approx(0.030, rel=0.06)


def test_doppler_shift_statistics():
    cfg = AugmentConfig(**{**OFF, "doppler_sigma_kms": 1.0})
    out = augment(np.repeat(_line(), 4000, 0), WAVE, np.random.default_rng(2), cfg)
    v = (_centroid(out) - 4200.0) / 4200.0 * 299792.458
    assert v.std() == pytest.approx(1.0, rel=0.06)


def test_continuum_error_statistics():
    cfg = AugmentConfig(**{**OFF, "continuum_sigmas": (2e-3, 5e-3, 3e-3)})
    out = augment(np.ones((4000, 1600)), WAVE, np.random.default_rng(3), cfg)
    assert out[:, 800].std() == pytest.approx(2e-3, rel=0.08)          # x ~ 0: order 0 only
    ends = out[:, -1] - out[:, 0]                                       # 2 c1
    assert ends.std() == pytest.approx(2 * 5e-3, rel=0.08)


def test_broadening_conserves_flux_and_widens_lines():
    cfg = AugmentConfig(**{**OFF, "broadening_sigma_px": 0.3})
    line = _line()
    out = augment(np.repeat(line, 2000, 0), WAVE, np.random.default_rng(4), cfg)
    assert np.allclose((1 - out).sum(1), (1 - line).sum(), rtol=1e-6)
    assert np.all(out.min(1) >= line.min() - 1e-9)


def test_missing_pixels_are_filled_not_zero():
    f = np.ones((3, 1600))
    f[:, :20] = 0.0
    out = augment(f, WAVE, np.random.default_rng(0), AugmentConfig.paper(), mask=f == 0)
    assert np.all(out[:, :19] == 1.0)


def test_dataset_is_deterministic_and_shuffled():
    flux = np.vstack([_line(), np.ones((1, 1600))])
    y = {"k": np.array([0, 1])}
    a = augment_dataset(flux, y, WAVE, 50, seed=7)
    b = augment_dataset(flux, y, WAVE, 50, seed=7)
    c = augment_dataset(flux, y, WAVE, 50, seed=8)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])
    assert a[0].shape == (100, 1600) and a[0].dtype == np.float32
    assert np.array_equal(a[1]["k"], a[2]) and not np.array_equal(a[2], np.sort(a[2]))
