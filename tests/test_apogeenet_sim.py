"""The APOGEE simulation's realism switches (zoo/families/apogeenet/realism.py, issue "Trust"):
each changes the spectra as its physics says, and with all of them off the simulator gives
what it gave before they existed (a reference saved from the code before the change)."""
import os

import numpy as np
import pytest

from zoo.families.apogeenet.realism import (PAPER_LABEL_NOISE, Realism, UPGRADED, sky_template, spot_mix,
                                         telluric_template, veil)
from zoo.families.apogeenet.simulate import observe, simulate_apogee
from zoo.families.apogeenet.apstar import aspcap_pixel_mask

HERE = os.path.dirname(os.path.abspath(__file__))
CHIPS = aspcap_pixel_mask()


def _noiseless(**kw):
    return simulate_apogee(kw.pop("n", 12), seed=kw.pop("seed", 5), return_noiseless=True, **kw)


# ----------------------------------------------------------------------------- defaults unchanged
def test_defaults_reproduce_the_simulation_before_the_switches():
    """tests/data/apogee_sim_reference.npz: simulate_apogee(40, seed=7, return_noiseless=True) of the
    code before the realism switches (labels, groups, S/N and masks exactly; flux at 64 pixels and
    row sums to float32 precision: the emulator's matrix products may round differently per CPU)."""
    ref = np.load(os.path.join(HERE, "data", "apogee_sim_reference.npz"))
    for realism in (None, Realism()):
        s = simulate_apogee(40, seed=7, return_noiseless=True, realism=realism)
        for k in ("labels", "alpha_fe", "group", "snr", "source"):
            np.testing.assert_array_equal(getattr(s, k), ref[k], err_msg=k)
        np.testing.assert_array_equal(np.packbits(s.mask, axis=1), ref["mask_bits"])
        pix = ref["pixels"]
        np.testing.assert_allclose(s.flux[:, pix], ref["flux_at"], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(s.error[:, pix], ref["error_at"], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(s.noiseless[:, pix], ref["noiseless_at"], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(s.flux.astype(float).sum(1), ref["flux_sum"], rtol=1e-5)
        np.testing.assert_allclose(s.noiseless.astype(float).sum(1), ref["noiseless_sum"], rtol=1e-5)
        np.testing.assert_array_equal(s.labels_true, s.labels)
        assert s.effects == {}


def test_recipe_defaults_are_the_exported_simulation_and_stay_out_of_the_card():
    from zoo.families.apogeenet.recipes import APOGEENET, SIMULATION_FIELDS, STARNET, simulation_kwargs
    for r in (APOGEENET, STARNET):
        d = r.to_dict()
        assert not set(SIMULATION_FIELDS) & set(d)          # exported cards' recipes unchanged
        kw = simulation_kwargs(r)
        assert kw["realism"] == Realism() and not kw["realism"].any_on
        assert kw["snr_range"] == (30.0, 500.0) and kw["snr_sigma"] == 0.6 and kw["dwarf_network_fraction"] == 0.5
    up = APOGEENET.replace(label_noise=PAPER_LABEL_NOISE, snr_min=10.0)
    d = up.to_dict()
    assert d["label_noise"] == list(PAPER_LABEL_NOISE) and d["snr_min"] == 10.0 and "veiling_fraction" not in d
    assert simulation_kwargs(up)["realism"].label_noise == PAPER_LABEL_NOISE


def test_recipe_flags_reach_the_simulation():
    from training.skeleton import parser_for, recipe_from_args
    from zoo.families.apogeenet.recipes import APOGEENET, simulation_kwargs
    p = parser_for(APOGEENET)
    args = p.parse_args(["--label-noise", "100", "0.1", "0.03", "--snr-min", "10", "--veiling-fraction", "0.5"])
    r = recipe_from_args(APOGEENET, args)
    kw = simulation_kwargs(r)
    assert kw["realism"].label_noise == (100.0, 0.1, 0.03) and kw["realism"].veiling_fraction == 0.5
    assert kw["snr_range"] == (10.0, 500.0)


# ----------------------------------------------------------------------------- each switch
def test_label_noise_has_the_configured_width_and_leaves_the_spectra_alone():
    base = simulate_apogee(600, seed=3)
    s = simulate_apogee(600, seed=3, realism=Realism(label_noise=PAPER_LABEL_NOISE))
    np.testing.assert_array_equal(s.flux, base.flux)            # spectra at the true labels
    np.testing.assert_array_equal(s.labels_true, base.labels)
    d = s.labels - s.labels_true
    np.testing.assert_allclose(d.std(axis=0), PAPER_LABEL_NOISE, rtol=0.1)
    assert np.all(np.abs(d.mean(axis=0)) < 0.15 * np.asarray(PAPER_LABEL_NOISE))


def test_snr_10_noise_level():
    s = _noiseless(n=10, snr_range=(10.0, 10.0))
    good = ~s.mask
    np.testing.assert_allclose(s.snr, 10.0)
    for i in range(len(s)):
        g = good[i]
        assert np.median(s.noiseless[i, g] / s.error[i, g]) == pytest.approx(10.0, rel=0.01)
        assert np.std((s.flux[i, g] - s.noiseless[i, g]) / s.error[i, g]) == pytest.approx(1.0, abs=0.05)


def test_spline_throughput_is_smooth_and_multiplicative():
    base = _noiseless()
    s = _noiseless(realism=Realism(spline_throughput=0.03))
    np.testing.assert_array_equal(s.labels, base.labels)
    ratio = np.log(s.noiseless[:, CHIPS] / base.noiseless[:, CHIPS])
    # the same smooth function whatever the spectrum: no line structure, curvature tiny per pixel
    assert 0.01 < ratio.std(axis=1).mean() < 0.06
    d2 = np.abs(np.diff(ratio[:, 10:2900], n=2, axis=1))
    assert d2.max() < 1e-4
    line = np.abs(np.diff(np.log(base.noiseless[:, CHIPS][:, 10:2900]), n=2, axis=1))
    assert np.median(line) > 100 * np.median(d2)


def test_telluric_residuals_only_where_the_tellurics_are():
    base = _noiseless()
    s = _noiseless(realism=Realism(telluric_residual=0.2))
    T = telluric_template(s.effects["template_shift"])
    delta = s.effects["telluric_delta"]
    ratio = s.noiseless[:, CHIPS] / base.noiseless[:, CHIPS]
    clear = T >= 0.99999
    np.testing.assert_allclose(ratio[clear], 1.0, rtol=1e-5)
    np.testing.assert_allclose(ratio, T ** delta[:, None], rtol=1e-4)
    absorbed = (T < 0.9) & (np.abs(delta)[:, None] > 0.05)
    assert absorbed.sum() > 50 and np.all(np.abs(ratio[absorbed] - 1) > 1e-3)


def test_sky_residuals_only_at_sky_lines():
    base = _noiseless()
    s = _noiseless(realism=Realism(sky_residual=0.05))
    S = sky_template(s.effects["template_shift"])
    diff = s.noiseless[:, CHIPS] - base.noiseless[:, CHIPS]
    assert np.all(diff[S == 0] == 0)
    amp = s.effects["sky_amp"]
    lines = (S > 1.0) & (np.abs(amp)[:, None] > 1e-3)
    assert lines.sum() > 50 and np.all(np.sign(diff[lines]) == np.sign(np.broadcast_to(amp[:, None], S.shape)[lines]))


def test_veiling_reduces_line_depths_by_1_over_1_plus_r():
    # the operation itself: (F + r C) / ((1 + r) C) = (f + r) / (1 + r)
    rng = np.random.default_rng(0)
    C = np.linspace(1.0, 2.0, 100)[None, :].repeat(3, 0).astype(np.float32)
    f = (1.0 - 0.5 * rng.random((3, 100))).astype(np.float32)
    r = np.array([0.0, 0.3, 1.0], np.float32)
    out = veil(f * C, C, r) / ((1 + r[:, None]) * C)
    np.testing.assert_allclose(1 - out, (1 - f) / (1 + r[:, None]), rtol=1e-5, atol=1e-6)
    # in the simulator, seen through the zoo's normalizer
    from zoo.families.apogeenet.continuum import normalize_apstar
    kw = dict(n=6, group_fractions=(0, 0, 1), snr_range=(500.0, 500.0))
    base, s = _noiseless(**kw), _noiseless(**kw, realism=Realism(veiling_fraction=1.0, veiling_max=1.0))
    r = s.effects["veiling"]
    gaps = np.broadcast_to(~CHIPS, base.noiseless.shape)
    nb = normalize_apstar(base.noiseless, mask=gaps)[0][:, CHIPS]
    nv = normalize_apstar(s.noiseless, mask=gaps)[0][:, CHIPS]
    for i in range(len(r)):
        deep = (1 - nb[i]) > 0.1
        slope = np.sum((1 - nv[i][deep]) * (1 - nb[i][deep])) / np.sum((1 - nb[i][deep]) ** 2)
        assert slope == pytest.approx(1 / (1 + r[i]), rel=0.03), (i, r[i])


def test_spots_mix_two_emulator_temperatures():
    from zoo.families.apogeenet.simulate import PayneEmulator
    a, b = np.full((2, 5), 2.0, np.float32), np.full((2, 5), 1.0, np.float32)
    np.testing.assert_allclose(spot_mix(a, b, [0.0, 0.25]), [[2.0] * 5, [1.75] * 5])
    kw = dict(n=8, group_fractions=(0, 0.5, 0.5))
    base, s = _noiseless(**kw), _noiseless(**kw, realism=Realism(spot_fraction=1.0))
    np.testing.assert_array_equal(s.labels, base.labels)          # the label: the unspotted photosphere
    f, ts = s.effects["spot_filling"], s.effects["spot_teff"]
    assert np.all((f >= 0.1) & (f <= 0.5))
    kur = PayneEmulator("kurucz")
    assert np.all(ts < s.labels[:, 0]) and np.all(ts >= kur.x_min[0])
    floor_or_contrast = np.isclose(ts, kur.x_min[0], atol=1e-3) | (ts >= 0.75 * s.labels[:, 0] - 1e-3)
    assert np.all(floor_or_contrast & (ts <= 0.9 * s.labels[:, 0] + 1e-3) | np.isclose(ts, kur.x_min[0], atol=1e-3))
    assert not np.allclose(s.noiseless, base.noiseless)


def test_metal_poor_stars_reach_the_emulator_floor():
    s = simulate_apogee(1000, seed=1, realism=Realism(metal_poor_fraction=0.2, feh_min=-0.99))
    feh = s.labels[:, 2]
    assert feh.min() >= -0.99 and (feh < -0.9).sum() > 10
    frac = s.effects["metal_poor"][s.group == 0].mean()
    assert 0.15 < frac < 0.25
    assert (simulate_apogee(1000, seed=1).labels[:, 2] < -0.9).sum() < (feh < -0.9).sum()


def test_upgraded_switches_all_on_and_observe_matches_the_instrument():
    assert UPGRADED.any_on
    s = simulate_apogee(30, seed=2, realism=UPGRADED, snr_range=(10.0, 500.0), snr_sigma=0.8)
    assert np.all(np.isfinite(s.flux)) and set(s.effects) >= {"veiling", "spot_filling", "sky_amp", "telluric_delta"}
    fl, er, mk = observe(np.ones((3, CHIPS.sum()), np.float32), np.array([20.0, 50.0, 100.0]), seed=0)
    assert fl.shape == (3, 8575) and np.all(mk[:, ~CHIPS])
    snr = [np.median(fl[i, ~mk[i]] / er[i, ~mk[i]]) for i in range(3)]
    np.testing.assert_allclose(snr, [20, 50, 100], rtol=0.05)
