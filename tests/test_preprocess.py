"""Input contract: validation errors, units, media, resampling and missing pixels."""
import astropy.units as u
import numpy as np
import pytest

from zoo.card import InputContract
from zoo.errors import (NonFiniteFluxError, NonMonotonicWavelengthError, SpectrumLengthError,
                        WavelengthCoverageError, WavelengthUnitError)
from zoo.preprocess import air_to_vacuum, fill_missing, to_contract, vacuum_to_air

C = InputContract(wavelength_start=3800.0, step=0.5, n_pixels=1600, medium="air", fill_value=1.0)
WAVE = C.wavelength()


def _spec(wave):
    return 1.0 - 0.4 * np.exp(-0.5 * ((wave - 4101.7) / 2.0) ** 2)


def test_on_grid_passthrough():
    f = _spec(WAVE)
    out = to_contract(f, C)
    assert out.flux.shape == (1, 1600) and out.flux.dtype == np.float32
    np.testing.assert_allclose(out.flux[0], f, atol=1e-6)


def test_resample_from_other_grid_and_units():
    w = np.linspace(3750.0, 4650.0, 3001)
    a = to_contract(_spec(w), C, w).flux
    b = to_contract(_spec(w), C, (w / 10) * u.nm).flux
    c = to_contract(_spec(w), C, (w * 1e-4) * u.um).flux
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)
    np.testing.assert_allclose(a[0], _spec(WAVE), atol=2e-3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_flux(bad):
    f = _spec(WAVE)
    f[100] = bad
    with pytest.raises(NonFiniteFluxError, match="NaN or inf"):
        to_contract(f, C)


def test_nan_under_mask_is_allowed():
    f = _spec(WAVE)
    f[100] = np.nan
    m = np.zeros(1600, bool)
    m[100] = True
    out = to_contract(f, C, mask=m)
    assert np.isfinite(out.flux).all() and out.mask[0, 100]


def test_wrong_length():
    with pytest.raises(SpectrumLengthError, match="1600"):
        to_contract(np.ones(1500), C)
    with pytest.raises(SpectrumLengthError, match="wavelength has"):
        to_contract(np.ones(1600), C, np.linspace(3700, 4700, 1500))


def test_coverage():
    w = np.linspace(3900.0, 4700.0, 2000)
    with pytest.raises(WavelengthCoverageError, match="3800"):
        to_contract(np.ones(2000), C, w)


def test_non_monotonic():
    w = np.linspace(3700.0, 4700.0, 2000)
    w[500], w[501] = w[501], w[500]
    with pytest.raises(NonMonotonicWavelengthError, match="pixel 501"):
        to_contract(np.ones(2000), C, w)


def test_wrong_unit():
    w = np.linspace(370.0, 470.0, 2000)          # nm given as plain floats
    with pytest.raises(WavelengthUnitError, match="nm"):
        to_contract(np.ones(2000), C, w)
    with pytest.raises(WavelengthUnitError, match="not a length"):
        to_contract(np.ones(2000), C, np.linspace(6.4e14, 8.1e14, 2000) * u.Hz)


def test_air_vacuum_round_trip_and_conversion():
    w = np.linspace(3800, 17000, 50)
    np.testing.assert_allclose(vacuum_to_air(air_to_vacuum(w)), w, atol=2e-4)
    assert air_to_vacuum(5000.0) - 5000.0 == pytest.approx(1.394, abs=0.01)   # ~1.4 A at 5000 A
    # a vacuum-wavelength spectrum is shifted onto the air grid
    wv = air_to_vacuum(np.linspace(3750.0, 4650.0, 3001))
    out = to_contract(_spec(np.linspace(3750.0, 4650.0, 3001)), C, wv, medium="vacuum").flux[0]
    np.testing.assert_allclose(out, _spec(WAVE), atol=2e-3)


def test_missing_pixels_filled_not_zero():
    f = _spec(WAVE)
    f[:30] = 0.0          # outside the observed range
    f[500:503] = 0.0      # dropped pixels inside
    out = to_contract(f, C)
    assert np.all(out.flux[0, :30] == 1.0)
    np.testing.assert_allclose(out.flux[0, 500:503], np.interp([500, 501, 502], [499, 503], f[[499, 503]]),
                               atol=1e-6)
    assert out.mask[0, :30].all() and out.mask[0, 500:503].all() and not out.mask[0, 30:500].any()


def test_fill_missing_all_masked_row():
    out = fill_missing(np.zeros((2, 5)), np.array([[True] * 5, [False] * 5]), 1.0)
    assert np.all(out[0] == 1.0) and np.all(out[1] == 0.0)


# --------------------------------------------------------------------------- issue 17: the contract as card fields
def test_no_overlap_says_so_plainly():
    """An apStar file (15100-17000 A) given to an optical model: the ranges do not overlap, and the
    message says that instead of suggesting to pad pixels with flux 0."""
    import glob
    import os
    from zoo.io import read
    path = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "zoo", "families", "apogeenet", "data", "apogee", "apStar-*.fits")))[0]
    s = read(path)
    for contract in (C, InputContract(wavelength_start=6519.0, step=1.5, n_pixels=140, medium="vacuum")):
        with pytest.raises(WavelengthCoverageError, match="does not overlap") as exc:
            to_contract(s.flux, contract, s.wavelength, mask=s.mask, medium=s.medium)
        assert "pad" not in str(exc.value) and "15100.80-16999.81 A" in str(exc.value)
    # partial coverage keeps the advice to pad
    with pytest.raises(WavelengthCoverageError, match="pad pixels"):
        to_contract(np.ones(2000), C, np.linspace(3900.0, 4700.0, 2000))


def test_old_cards_load_with_defaults_and_unknown_keys_are_refused():
    from zoo.card import MEDIUM_CONVERSION_DEFAULT, MISSING_DEFAULT, RESAMPLING_DEFAULT
    c = InputContract(wavelength_start=3800.0, step=0.5, n_pixels=1600, missing={"error_at_least": 1e9})
    assert c.missing == {**MISSING_DEFAULT, "error_at_least": 1e9}
    assert c.resampling == RESAMPLING_DEFAULT and c.medium_conversion == MEDIUM_CONVERSION_DEFAULT
    with pytest.raises(ValueError, match="unknown key"):
        InputContract(wavelength_start=3800.0, step=0.5, n_pixels=1600, missing={"ivar": 0})
    with pytest.raises(ValueError, match="resampling.flux_conserving"):
        InputContract(wavelength_start=3800.0, step=0.5, n_pixels=1600, resampling={"flux_conserving": True})
    with pytest.raises(ValueError, match="edge_method"):
        InputContract(wavelength_start=3800.0, step=0.5, n_pixels=1600, edge_method="fancy")


def test_missing_rules_come_from_the_contract():
    f = _spec(WAVE)
    err = np.full(1600, 0.01)
    err[200:210] = 1e10          # a reader's "no information" sentinel (LAMOST ivar = 0)
    err[300] = -1.0
    keep = to_contract(f, C, error=err)
    assert not keep.mask[0, 200:210].any() and not keep.mask[0, 300]
    strict = InputContract(**{**C.__dict__, "missing": {**C.missing, "error_at_least": 1e9,
                                                        "error_nonpositive": True}})
    out = to_contract(f, strict, error=err)
    assert out.mask[0, 200:210].all() and out.mask[0, 300] and out.mask[0].sum() == 11
    # flux 0 and mask=True can be switched off too
    g = f.copy()
    g[400] = 0.0
    assert to_contract(g, C).mask[0, 400]
    assert not to_contract(g, InputContract(**{**C.__dict__, "missing": {**C.missing, "flux_zero": False}})).mask[0, 400]


def test_medium_conversion_and_coverage_tolerance_come_from_the_contract():
    w = np.linspace(3750.0, 4650.0, 3001)
    wv = air_to_vacuum(w)
    base = to_contract(_spec(w), C, wv, medium="vacuum").flux[0]
    ident = {"coefficients": [0.0, 0.0, 130.0, 0.0, 38.9], "apply": "divide"}
    other = InputContract(**{**C.__dict__, "medium_conversion": {**C.medium_conversion, "vacuum_to_air": ident}})
    moved = to_contract(_spec(w), other, wv, medium="vacuum").flux[0]
    assert np.abs(moved - base).max() > 0.05        # no conversion: H-delta lands ~1.2 A off
    # a spectrum ending 1 pixel short of the grid: refused at tolerance 0.5, read at 2
    short = np.linspace(3800.0, 4599.0, 1599)
    with pytest.raises(WavelengthCoverageError):
        to_contract(_spec(short), C, short)
    loose = InputContract(**{**C.__dict__, "coverage_tolerance": 2.0})
    assert to_contract(_spec(short), loose, short).mask[0, -1]


def test_card_parameters_are_the_family_code_parameters():
    """The presets hold the numbers the family code documents (one fact: the card reads them
    from the code's signatures when written, the code reads them from the card when run)."""
    import zoo
    from zoo.families.apogeenet.continuum import contract_params
    from zoo.families.bestars.preprocess import step_params as ondrejov
    from zoo.families.autoclassmk.rectify import step_params as mk
    for name in ("apogeenet", "starnet"):
        assert zoo.get_card(name, trained=False).input.normalization_params == contract_params()
        assert zoo.get_card(name).input.normalization_params == contract_params()
    for name in ("emission_cnn", "emission_fc"):
        assert zoo.get_card(name).input.instrument_step_params == {"emission_ondrejov": ondrejov()}
    for name in ("autoclassmk", "autoclassmk_broad"):
        assert zoo.get_card(name).input.instrument_step_params == {"mk_rectify": mk()}


# --------------------------------------------------------------------------- many spectra at once
def _same(a, b):
    """One-row Prepared results (or refusals) equal to the bit (refusals: type and message)."""
    if isinstance(a, Exception) or isinstance(b, Exception):
        return type(a) is type(b) and str(a) == str(b)
    return (np.array_equal(a.flux, b.flux) and np.array_equal(a.mask, b.mask)
            and ((a.error is None and b.error is None) or np.array_equal(a.error, b.error)))


def _one_by_one(predictor, specs):
    out = []
    for s in specs:
        try:
            out.append(predictor.prepare(s))
        except Exception as exc:  # noqa: BLE001
            out.append(exc)
    return out


def test_spectra_sharing_a_grid_are_prepared_as_one_by_one():
    """to_contract_many (one 2-D call per wavelength grid) gives every bundled real file exactly what the
    one-file call gives, for every exported model (refusals with the same error and message), in one
    mixed chunk of every format and grid."""
    import glob
    import os

    from zoo.io import read
    from zoo.predictor import Predictor, exported_dir
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = sorted(glob.glob(os.path.join(repo, "zoo", "data", "*", "*.fits"))
                   + glob.glob(os.path.join(repo, "tests", "data", "*", "*.fits"))
                   + glob.glob(os.path.join(repo, "zoo", "families", "autoclassmk", "data", "mk_atlas", "*", "*.rbn"))[::25])
    specs = [read(f) for f in files]
    assert len({len(s.flux) for s in specs if "lamost" in s.meta.get("instrument", "")}) >= 3   # LAMOST grids
    names = sorted(n for n in os.listdir(exported_dir()) if os.path.exists(os.path.join(exported_dir(n), "card.json")))
    if not names:
        pytest.skip("no exported model")
    prepared = 0
    for name in names:
        p = Predictor.without_network(exported_dir(name))
        many, one = p.prepare_many(specs), _one_by_one(p, specs)
        bad = [os.path.basename(f) for f, a, b in zip(files, many, one) if not _same(a, b)]
        assert not bad, (name, bad)
        prepared += sum(not isinstance(a, Exception) for a in many)
    assert prepared >= 60


def test_a_refused_spectrum_costs_its_group_nothing():
    """Among spectra on one grid, one that the contract refuses (too few valid pixels) gets its own error;
    the others get the one-spectrum rows; other grids, media and spectra without errors alike."""
    from zoo.preprocess import to_contract_many
    from zoo.spectrum import Spectrum
    rng = np.random.default_rng(3)
    w1 = np.linspace(3750.0, 4650.0, 3001)
    w2 = np.linspace(3790.0, 4620.0, 2500)
    specs = []
    for i in range(9):
        w = w1 if i % 3 else w2
        f = _spec(w) * rng.uniform(0.5, 2.0) + 0.01 * rng.normal(size=w.size)
        mask = rng.random(w.size) < 0.05
        if i == 4:
            f[: int(0.9 * w.size)] = 0.0            # 90 % missing: refused
        specs.append(Spectrum(w, f, error=None if i == 7 else np.full(w.size, 0.01), mask=mask,
                              medium="vacuum" if i == 5 else "air"))
    many = to_contract_many(specs, C)
    one = []
    for s in specs:
        try:
            one.append(to_contract(s.flux, C, s.wavelength, error=s.error, mask=s.mask, medium=s.medium))
        except Exception as exc:  # noqa: BLE001
            one.append(exc)
    assert all(_same(a, b) for a, b in zip(many, one))
    assert [type(x).__name__ for x in many].count("InsufficientDataError") == 1 and isinstance(many[4], Exception)
