"""The Ondřejov-like simulator: each class has its physical property, the grids and ranges
are the CCD700's, counts and seeds behave.  (The survey additions -- G/K/M photospheres, the
LAMOST rendering, the legacy switch -- are tested in test_bestars_survey_sim.py.)"""
import numpy as np
import pytest

from zoo.families.bestars.preprocess import air_to_vacuum_thesis
from zoo.families.bestars.simulate import (C_KMS, GRIDS, HALPHA_AIR, TELLURIC_LINES, SimConfig, input_view,
                                            profile_peaks, simulate_dataset, simulate_spectrum)
from zoo.registry import get_entry

CFG = SimConfig()
N = 25


def _draw(cls, n=N, seed=0, survey=False, **kw):
    """Ondřejov-rendered draws (``clean`` and the returned grid are both the CCD700's)."""
    rng = np.random.default_rng(seed)
    return [simulate_spectrum(cls, rng, CFG, survey=survey, **kw) for _ in range(n)]


def _center(p):
    return HALPHA_AIR * (1 + p["rv"] / C_KMS)


def test_grids_are_the_ccd700_files():
    for g, (start, step, n) in enumerate(GRIDS):
        w, f, p = simulate_spectrum("absorption", np.random.default_rng(g), CFG, grid=g, survey=False)
        assert w[0] == start and w.size == n and np.allclose(np.diff(w), step)
        assert 6280 < w[0] < 6285 and 6732 < w[-1] < 6734          # the files' air range
        assert np.all(np.isfinite(f)) and f.size == n


def test_absorption_has_a_line_and_no_emission():
    hot = SimConfig(group_weights=SimConfig.legacy().group_weights)        # the analytic B/A/F profiles
    rng = np.random.default_rng(0)
    for w, f, p in (simulate_spectrum("absorption", rng, hot, survey=False) for _ in range(N)):
        c = p["clean"]
        near = np.abs(w - _center(p)) < 15
        assert c[near].max() <= 1.0 + 1e-9                      # nothing above the continuum
        assert c[near].min() <= 1 - 0.15                        # a real photospheric line
        assert 2.0 <= p["ew"] <= 16.0 and p["group"] in "BAF"


def test_emission_peak_above_continuum():
    peaks = []
    for w, f, p in _draw("emission"):
        near = np.abs(w - _center(p)) < 15
        assert p["clean"][near].max() >= 1.0 + CFG.min_emission_peak
        if p.get("disk"):
            assert CFG.disk_peak_range[0] <= p["disk_peak"] <= CFG.disk_peak_range[1]
        else:
            assert CFG.emission_peak_range[0] <= p["emission_peak"] <= CFG.emission_peak_range[1]
        peaks.append(p["under_photosphere"])
    assert 0 < np.mean(peaks) < 1                               # with and without a photosphere


def _input_peaks(w, p):
    wv, fv = input_view(w, p["clean"])
    return wv, profile_peaks(wv, fv, float(air_to_vacuum_thesis(_center(p))))


def test_emission_shows_no_resolved_dip_at_the_model_input():
    """Labels are judged where the network looks: an emission spectrum (single lines and the
    disks the blur merges, ~30 % of the class) has no central depression at the input."""
    draws = _draw("emission", n=60, seed=2)
    disks = [p for _, _, p in draws if p.get("disk")]
    assert 8 <= len(disks) <= 30                                 # emission_disk_share = 0.3 of 60
    for w, f, p in draws:
        wv, pk = _input_peaks(w, p)
        if pk is not None:
            weak = min(pk[0], pk[1])
            assert weak < 1.02 or weak - pk[2] < max(CFG.min_central_depression * (weak - 1), 0.01)


def test_double_peak_separation_and_central_depression():
    seps, asym = [], []
    for w, f, p in _draw("double-peak", n=40):
        wv, pk = _input_peaks(w, p)                              # judged on the model input
        assert pk is not None
        p1, p2, dip, w1, w2 = pk
        weak = min(p1, p2)
        assert weak > 1.0 and weak - dip >= max(CFG.min_central_depression * (weak - 1), 0.01) - 1e-12
        sep_kms = abs(w1 - w2) / HALPHA_AIR * C_KMS
        # the measured peak separation follows the disk's (outer-disk) velocity: 100-500 km/s drawn;
        # at the input (blur FWHM ~4 A, 1.5 A pixels) only the wider disks stay resolved
        assert 120 < sep_kms < 1300     # a photospheric core under a weak disk pushes the peaks out
        assert 100 <= p["peak_separation_kms"] <= 500
        if not p["under_photosphere"]:          # a bare disk at R = 13000: the peaks are the disk's
            pn = profile_peaks(w, p["clean"], _center(p))
            seps.append((abs(pn[3] - pn[4]) / HALPHA_AIR * C_KMS, p["peak_separation_kms"]))
        asym.append(abs(p1 - p2) / max(p1 - 1, p2 - 1))
    s = np.array(seps)
    assert np.corrcoef(s[:, 0], s[:, 1])[0, 1] > 0.8
    assert np.max(asym) > 0.05                                   # V/R asymmetry occurs
    assert s[:, 1].min() > 150          # disks narrower than the input resolves are emission, not here


def test_label_at_native_resolution_is_the_old_criterion():
    cfg = SimConfig(label_at_input=False)
    rng = np.random.default_rng(0)
    seps = []
    for _ in range(30):
        w, f, p = simulate_spectrum("double-peak", rng, cfg, survey=False)
        pk = profile_peaks(w, p["clean"], _center(p))
        weak = min(pk[0], pk[1])
        assert weak - pk[2] >= max(cfg.min_central_depression * (weak - 1), 0.01) - 1e-12
        seps.append(p["peak_separation_kms"])
        w, f, p = simulate_spectrum("emission", rng, cfg, survey=False)
        assert not p.get("disk")
    assert min(seps) < 150              # at R = 13000 narrow disks count as double-peak


def test_radial_velocity_moves_the_star_not_the_tellurics():
    rng = np.random.default_rng(5)
    hot = SimConfig(group_weights=SimConfig.legacy().group_weights)
    w, f, p = simulate_spectrum("absorption", rng, hot, grid=0, noise=False, survey=False)
    while "telluric_strength" not in p or p["telluric_strength"] < 1.0 or abs(p["rv"]) < 20:
        w, f, p = simulate_spectrum("absorption", rng, hot, grid=0, noise=False, survey=False)
    c = p["clean"]                                               # noiseless, no tellurics, no tilt
    assert abs(w[np.argmin(c)] - _center(p)) < 0.5               # line at the star's velocity
    lam = 6490.87                                                # a strong telluric line stays put
    i = np.argmin(np.abs(w - lam))
    local = f[i - 12:i + 13] / np.median(f[i - 40:i + 40])
    assert np.argmin(local) in (11, 12, 13)


def test_noise_level_follows_snr():
    rng = np.random.default_rng(7)
    w, f, p = simulate_spectrum("absorption", rng, CFG, grid=0, survey=False)
    w0, f0, p0 = simulate_spectrum("absorption", np.random.default_rng(7), CFG, grid=0, noise=False, survey=False)
    resid = (f - f0) / np.median(f0)
    assert resid.std() == pytest.approx(1 / p["snr"], rel=0.15)
    assert CFG.snr_range[0] <= p["snr"] <= CFG.snr_range[1]


def test_telluric_list_inside_the_range():
    assert all(6282 < lam < 6733 and 0 < d < 0.1 for lam, d in TELLURIC_LINES)


def test_dataset_counts_seed_and_contract():
    contract = get_entry("emission_fc").card().input
    counts = {"emission": 5, "absorption": 6, "double-peak": 2}
    a = simulate_dataset(counts, contract, seed=3)
    b = simulate_dataset(counts, contract, seed=3)
    assert a.x.shape == (13, 140) and a.x.dtype == np.float32
    assert np.bincount(a.y, minlength=3).tolist() == [5, 6, 2]
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_allclose(a.x.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(a.x.std(1), 1, atol=1e-4)
    c = simulate_dataset(counts, contract, seed=4)
    assert not np.allclose(a.x, c.x)


def test_dataset_equals_the_real_file_path():
    """A simulated spectrum as a Spectrum with meta instrument 'ondrejov' through the family's
    prepare() gives the dataset's row: training input and real Ondřejov files share one path."""
    from zoo.families.bestars import prepare
    from zoo.spectrum import Spectrum
    contract = get_entry("emission_fc").card().input
    d, native = simulate_dataset({"emission": 3, "absorption": 3}, contract, seed=9, keep_native=True)
    assert set(d.instrument) == {"ondrejov", "lamost"}          # both renderings, each through its own path
    for row, (w, f), inst in zip(d.x, native, d.instrument):
        s = Spectrum(wavelength=w, flux=f, medium="air" if inst == "ondrejov" else "vacuum", meta={"instrument": inst})
        np.testing.assert_allclose(prepare(contract, s).flux[0], row, atol=1e-5)


def test_unknown_class():
    with pytest.raises(ValueError):
        simulate_spectrum("unknown", np.random.default_rng(0))
