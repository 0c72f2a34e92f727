"""The Payne emulators and the simulated APOGEE set (zoo.families.apogeenet.simulate)."""
import numpy as np
import pytest

from zoo.families.apogeenet.continuum import normalize_apstar
from zoo.families.apogeenet.apstar import APSTAR_CHIP_SLICES, APSTAR_NPIX, aspcap_pixel_mask
from zoo.families.apogeenet.simulate import GROUP_NAMES, PayneEmulator, simulate_apogee


@pytest.fixture(scope="module")
def sim():
    return simulate_apogee(400, seed=7, return_noiseless=True)


def test_emulator_shapes_and_bounds():
    for kind, nlab in (("kurucz", 4), ("apogee_dwarf", 5)):
        em = PayneEmulator(kind)
        lo, hi = em.bounds
        assert len(em.label_names) == nlab == lo.size == hi.size
        mid = 0.5 * (lo + hi)
        f1 = em.flux(mid)
        f = em.flux(np.stack([mid, lo, hi]))
        assert f1.shape == (7214,) and f.shape == (3, 7214)
        assert np.isfinite(f).all()
        np.testing.assert_allclose(f[0], f1, rtol=1e-5)
    assert PayneEmulator("kurucz").bounds[0][0] == pytest.approx(3529.16, abs=0.1)
    with pytest.raises(ValueError):
        PayneEmulator("phoenix")


def test_emulator_matches_readme_formula():
    em = PayneEmulator("kurucz")
    from zoo.families.apogeenet.simulate import _load
    d, _ = _load("kurucz")
    lab = np.array([4800.0, 2.7, -0.2, 0.1])
    x = (lab - d["x_min"]) / (d["x_max"] - d["x_min"]) - 0.5
    h = 1 / (1 + np.exp(-(np.einsum("pkl,l->pk", d["w_array_0"], x) + d["b_array_0"])))
    ref = np.sum(d["w_array_1"] * h, axis=1) + d["b_array_1"]
    np.testing.assert_allclose(em.flux(lab), ref, rtol=1e-4, atol=1e-5)


def test_kurucz_normalised_near_one():
    em = PayneEmulator("kurucz")
    lab = np.array([[4500, 2.5, 0.0, 0.0], [5800, 4.4, 0.0, 0.0], [3700, 4.8, 0.0, 0.0]])
    f, gaps = em.on_apstar_grid(em.flux(lab))
    assert f.shape == (3, APSTAR_NPIX) and gaps.sum() == APSTAR_NPIX - 7214
    assert np.all(f[:, gaps] == 0)
    nf, _ = normalize_apstar(f, mask=np.broadcast_to(gaps, f.shape))
    chips = aspcap_pixel_mask()
    for row in nf:
        assert 0.9 < np.median(row[chips]) < 1.02
        assert np.percentile(row[chips], 95) < 1.05


def test_simulated_arrays(sim):
    n = len(sim)
    assert sim.flux.shape == sim.error.shape == sim.mask.shape == (n, APSTAR_NPIX)
    assert sim.flux.dtype == np.float32 and sim.mask.dtype == bool
    assert sim.labels.shape == (n, 3) and sim.group_names == GROUP_NAMES
    assert np.isfinite(sim.flux).all() and np.isfinite(sim.error).all()
    gaps = ~aspcap_pixel_mask()
    assert sim.mask[:, gaps].all()
    assert np.all(sim.flux[sim.mask] == 0)
    frac = sim.mask[:, ~gaps].mean()
    assert 0.005 < frac < 0.06
    med = np.array([np.median(f[~m]) for f, m in zip(sim.flux, sim.mask)])
    assert med.max() / med.min() > 100          # raw-like: scales over orders of magnitude
    em = PayneEmulator("kurucz")
    assert np.all(em.in_bounds(np.column_stack([sim.labels, sim.alpha_fe])))


def test_group_fractions_and_label_ranges(sim):
    frac = np.bincount(sim.group, minlength=3) / len(sim)
    np.testing.assert_allclose(frac, [0.85, 0.075, 0.075], atol=1.5 / len(sim))
    t, g = sim.labels[:, 0], sim.labels[:, 1]
    md, yso = sim.group == 1, sim.group == 2
    assert np.all((t[md] >= 3529) & (t[md] <= 4000) & (g[md] >= 4.5) & (g[md] <= 5.2))
    assert np.all((t[yso] <= 4500) & (g[yso] >= 3.0) & (g[yso] <= 4.2))
    large = sim.group == 0
    assert (g[large] < 3.6).mean() > 0.4 and (t[large] > 5000).sum() > 10


def test_deterministic_for_seed():
    a, b = simulate_apogee(30, seed=11), simulate_apogee(30, seed=11)
    c = simulate_apogee(30, seed=12)
    for k in ("flux", "error", "mask", "labels", "group", "snr"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    assert not np.array_equal(a.flux, c.flux)


def test_noise_matches_snr(sim):
    good = ~sim.mask
    pull = (sim.flux - sim.noiseless)[good] / sim.error[good]
    assert np.std(pull) == pytest.approx(1.0, abs=0.02)
    assert abs(np.mean(pull)) < 0.02
    # the recorded S/N is the median per-pixel S/N of the noiseless spectrum
    chips = aspcap_pixel_mask()
    snr = np.median(sim.noiseless[:, chips] / sim.error[:, chips].clip(max=1e9), axis=1)
    np.testing.assert_allclose(snr, sim.snr, rtol=0.03)
    assert 30 <= sim.snr.min() and sim.snr.max() <= 500
    assert 70 < np.median(sim.snr) < 140
    # the normalised residual scatter follows 1/S/N
    nf, _ = normalize_apstar(sim.flux, sim.error, sim.mask, clip=None)
    nf0, _ = normalize_apstar(sim.noiseless, None, sim.mask, clip=None)
    s = APSTAR_CHIP_SLICES[1]
    resid = np.where(sim.mask[:, s], np.nan, nf[:, s] - nf0[:, s])
    ratio = np.nanstd(resid, axis=1) * sim.snr
    assert 0.7 < np.median(ratio) < 1.3


def test_simulated_normalise_like_real(sim):
    nf, _, bad = normalize_apstar(sim.flux, sim.error, sim.mask, return_mask=True)
    med = np.array([np.median(r[~b]) for r, b in zip(nf, bad)])
    assert np.all((med > 0.85) & (med < 1.05))
