"""One input contract for every entry point (issue 8, sec. 4), on every exported model:
files, Spectrum objects, specutils objects and arrays give the same outputs; bad input is refused
with a typed error; an empty batch gives empty arrays."""
import os
import warnings

import astropy.units as u
import numpy as np
import pytest

import zoo
from zoo.errors import (CorruptFileError, InsufficientDataError, SpectrumError, UnphysicalFluxError,
                        WavelengthCoverageError)
from zoo.io import read
from zoo.predictor import exported_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTED = [n for n in zoo.list_models() if os.path.exists(os.path.join(exported_dir(n), "card.json"))]


def _bundled_files():
    """Every bundled file that one of the zoo's readers claims."""
    from zoo.io import readers
    return sorted(p for p in zoo.example_files()
                  if any(looks_like(p) for looks_like, _ in readers().values()))


FILES = _bundled_files()


@pytest.fixture(scope="module")
def onnx_models():
    return {n: zoo.load_model(n, backend="onnx") for n in EXPORTED}


def _same(a, b, what):
    assert set(a) == set(b), what
    for k in a:
        if a[k].dtype.kind in "fc":
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-5, err_msg=f"{what}: {k}")
        else:
            assert (a[k] == b[k]).all(), f"{what}: {k}"


def test_exported_models_and_bundled_files_are_found():
    assert {"autoclassmk", "autoclassmk_broad", "apogeenet", "starnet"} <= set(EXPORTED)
    assert sum(f.endswith(".rbn") for f in FILES) > 100 and sum("apStar" in f for f in FILES) == 5
    assert not [f for f in FILES if f.endswith((".md", ".npz", ".json", "LICENSE"))]


@pytest.mark.parametrize("name", EXPORTED)
def test_path_and_array_give_the_same_outputs(onnx_models, name):
    """For every bundled real file: predict(path) == predict(the file's own arrays, wavelength=...)."""
    model = onnx_models[name]
    n_checked = 0
    for path in FILES:
        s = read(path)
        instrument = (s.meta or {}).get("instrument")
        try:
            by_path = model.predict_raw(path)
        except SpectrumError as exc:     # outside the model's range: the arrays must be refused alike
            with pytest.raises(type(exc)):
                model.predict_raw(s.flux, wavelength=s.wavelength, error=s.error, mask=s.mask, medium=s.medium,
                                  instrument=instrument)
            continue
        # rectified files carry no mask beyond their zeros: give the flux and wavelengths only
        mask = None if s.mask is None or np.array_equal(s.mask, s.flux == 0) else s.mask
        by_array = model.predict_raw(s.flux, wavelength=s.wavelength, error=s.error, mask=mask,
                                     medium=s.medium, instrument=instrument)
        by_spectrum = model.predict_raw(s)
        _same(by_path, by_array, f"{name} {os.path.basename(path)} path vs array")
        _same(by_path, by_spectrum, f"{name} {os.path.basename(path)} path vs Spectrum")
        n_checked += 1
    assert n_checked >= 5, f"{name}: only {n_checked} bundled files are in its range"


def test_specutils_spectrum_is_accepted(onnx_models):
    specutils = pytest.importorskip("specutils")
    cls = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
    from astropy.nddata import StdDevUncertainty
    path = next(f for f in FILES if "apStar-r6-2M12241699" in f)
    s = read(path)
    obj = cls(spectral_axis=s.wavelength, flux=s.flux * u.Unit("1e-17 erg / (s cm2 Angstrom)"),
              uncertainty=StdDevUncertainty(s.error), mask=s.mask)
    model = onnx_models["apogeenet"]
    _same(model.predict_raw(path), model.predict_raw(obj), "apStar path vs specutils (vacuum)")
    rbn = next(f for f in FILES if f.endswith("t200l50p00.rbn"))
    r = read(rbn)
    obj = cls(spectral_axis=r.wavelength.to(u.nm), flux=r.flux * u.dimensionless_unscaled)
    _same(onnx_models["autoclassmk"].predict_raw(rbn), onnx_models["autoclassmk"].predict_raw(obj, medium="air"),
          "rbn path vs specutils in nm (air)")


@pytest.mark.parametrize("name", EXPORTED)
def test_bad_input_gets_a_typed_error(onnx_models, name):
    model = onnx_models[name]
    n = model.card.input.n_pixels
    with pytest.raises(InsufficientDataError):
        model.predict(np.zeros(n))                                   # every pixel missing
    with pytest.raises(InsufficientDataError):
        model.predict(np.ones(n), mask=np.arange(n) < int(0.9 * n))  # 90 % masked
    with pytest.raises(UnphysicalFluxError):
        model.predict(-np.ones(n))                                   # negative flux
    out = model.predict(np.zeros((0, n)))                           # an empty batch
    assert out and all(len(v) == 0 for v in out.values())
    assert set(out) == set(model.predict(np.ones((1, n)) + 0.01 * np.sin(np.arange(n))))


def test_empty_list_of_files_gives_empty_arrays(onnx_models):
    out = onnx_models["autoclassmk"].predict([])
    assert set(out) >= {"spectral_class", "luminosity_class"} and all(len(v) == 0 for v in out.values())


def test_rectified_contract_refuses_unnormalized_flux(onnx_models):
    s = read(next(f for f in FILES if f.endswith("t200l50p00.rbn")))
    with pytest.raises(UnphysicalFluxError):
        onnx_models["autoclassmk"].predict(s.flux * 1e3, wavelength=s.wavelength)   # raw counts


def test_zeroed_bytes_in_a_fits_file_are_caught(tmp_path):
    from astropy.io import fits
    src = next(f for f in FILES if "apStar-r6-2M12241699" in f)
    with fits.open(src) as h:
        off = h.fileinfo(1)["datLoc"] + 4 * 1000             # flux row 0, pixel 1000 (chip 1)
    raw = bytearray(open(src, "rb").read())
    raw[off:off + 4 * 50] = bytes(4 * 50)                      # 50 zeroed float32 pixels
    bad = tmp_path / "apStar-zeroed.fits"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match="zeroed"):
        read(str(bad))


def test_apogee_normalization_is_idempotent():
    """The contract says apStar flux may arrive raw or already normalized: normalizing the
    normalized flux again changes it by far less than its noise, and the labels by little."""
    from zoo.registry import load_preset
    from zoo.preprocess import to_contract
    c = load_preset("apogeenet").input
    for path in [f for f in FILES if "apStar" in f]:
        s = read(path)
        once = to_contract(s.flux, c, s.wavelength, error=s.error, mask=s.mask, medium=s.medium)
        twice = to_contract(once.flux, c, error=once.error, mask=once.mask)
        good = ~once.mask[0]
        diff = np.abs(twice.flux[0, good] - once.flux[0, good])
        assert np.median(diff) < 2e-3, path
        assert np.percentile(diff / np.maximum(once.error[0, good], 0.005), 99) < 0.5, path
        m = zoo.load_model("apogeenet", backend="onnx")
        a, b = m.predict(once.flux), m.predict(twice.flux)
        assert abs(a["teff"][0] - b["teff"][0]) < 50 and abs(a["logg"][0] - b["logg"][0]) < 0.1, path


def test_partial_coverage_is_masked_not_refused(onnx_models):
    """Zeros at either end (missing range) are missing pixels; too little coverage is refused."""
    s = read(next(f for f in FILES if f.endswith("t200l50p00.rbn")))
    wave = s.angstrom
    flux = np.where(wave < 3850.0, 0.0, s.flux)
    out = onnx_models["autoclassmk"].predict(flux, wavelength=wave)
    assert out["spectral_class"].shape == (1,)
    with pytest.raises(WavelengthCoverageError):
        onnx_models["autoclassmk"].predict(s.flux[wave > 3900], wavelength=wave[wave > 3900])


def test_device_gpu_falls_back_to_cpu_with_one_warning():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = zoo.load_model("autoclassmk", backend="onnx", device="gpu")
    msgs = [str(x.message) for x in w if issubclass(x.category, RuntimeWarning)]
    import onnxruntime as ort
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert not msgs
    else:
        assert len(msgs) == 1 and "CPU" in msgs[0]
    assert m.predict(np.ones(1600) - 0.01)["spectral_class"].shape == (1,)
    with pytest.raises(ValueError):
        zoo.load_model("autoclassmk", backend="onnx", device="tpu")
