"""Rectification of flux-calibrated spectra for AutoClassMK: an upper-envelope continuum fit.

AutoClassMK's contract wants *rectified* flux (continuum = 1), as in the MK
atlases libr18 / libr18_27.  Real spectra usually arrive flux-calibrated: the
star's spectral energy distribution (SED) times whatever the instrument's
response left.  Across 3800-4600 A both are smooth, so the continuum is
modelled as ``exp(P(u))`` with ``P`` a polynomial of degree ``degree`` in
``u`` (wavelength scaled to [-1, 1] over the valid pixels), fitted to
``log(flux)`` by an iterative *upper envelope*: each pass refits to the
pixels within ``-low`` / ``+high`` robust standard deviations of the previous
fit, so absorption lines (below the continuum) drop out and the fit settles on
the line-free tops.  The rectified flux is ``flux / exp(P)``.

Why in log flux: a flux-calibrated spectrum is (rectified spectrum) x SED, so
``log flux = log(rectified) + log SED``; when ``log SED`` is (close to) a
polynomial of degree ``degree``, the residuals of every pass, and hence the
pixels kept, are the same as for the rectified spectrum alone; the fit
changes by exactly ``log SED``.  The result therefore does not depend on the
SED at all: rectifying a flux-calibrated spectrum gives what rectifying the
rectified one gives (``tests/test_autoclassmk_trust.py`` checks this with blackbodies
times instrument responses).  What remains is how well the envelope
reproduces the atlas's own continuum placement; docs/autoclassmk.md reports
the accuracy of the exported models on libr18_27 rectified this way (after
multiplying by blackbody x response SEDs) against the original atlas
rectification (``python scripts/autoclassmk_rectification.py``).

In the contract: ``instrument_steps`` maps the instrument name
``"flux_calibrated"`` to the registered native step ``"mk_rectify"``, so

    model.predict(flux, wavelength=wave, instrument="flux_calibrated")

rectifies on the spectrum's own pixels before resampling (a
:class:`zoo.spectrum.Spectrum` or file with ``meta["instrument"] ==
"flux_calibrated"`` takes the same path).  Input already rectified needs
nothing.  The step needs ``wavelength=`` (pass ``model.card.input.wavelength()``
for flux already on the contract grid); :func:`rectify_continuum` can also be
called directly.
"""
from __future__ import annotations

import numpy as np

from zoo.stats import MAD_TO_SIGMA
from zoo.preprocess import register_native_step

__all__ = ["STEP", "INSTRUMENT", "DEFAULTS", "step_params", "continuum", "rectify_continuum", "template_continuum",
           "rectify_to_atlas", "mk_rectify_step", "TEFF", "blackbody", "smooth_sed"]

#: Name of the registered native step, and the instrument name that selects it in the contract.
STEP = "mk_rectify"
INSTRUMENT = "flux_calibrated"
#: Fit parameters (chosen on libr18, the training atlas, never libr18_27; docs/autoclassmk.md).
DEFAULTS = {"degree": 4, "low": 1.0, "high": 3.0, "n_iter": 15, "lo": 3800.0, "hi": 4600.0}


def continuum(wave, flux, mask=None, *, degree: int = DEFAULTS["degree"], low: float = DEFAULTS["low"],
              high: float = DEFAULTS["high"], n_iter: int = DEFAULTS["n_iter"], lo: float | None = DEFAULTS["lo"],
              hi: float | None = DEFAULTS["hi"]) -> np.ndarray:
    """The fitted continuum of each row of ``flux`` (n, pixels) on ``wave`` (Angstrom).

    Only valid pixels (``mask`` False, flux > 0, finite) inside ``[lo, hi]`` Angstrom are
    fitted (the model's range: the continuum is then the same wherever else the spectrum
    extends); the polynomial is evaluated on every pixel (extrapolated outside).  A row
    with fewer than ``4 (degree + 1)`` usable pixels gets NaN.
    """
    wave = np.asarray(wave, float)
    flux = np.atleast_2d(np.asarray(flux, float))
    mask = np.zeros(flux.shape, bool) if mask is None else np.broadcast_to(np.asarray(mask, bool), flux.shape)
    inside = np.ones(wave.size, bool)
    if lo is not None:
        inside &= wave >= lo
    if hi is not None:
        inside &= wave <= hi
    out = np.full(flux.shape, np.nan)
    for i, (f, m) in enumerate(zip(flux, mask)):
        ok = inside & ~m & np.isfinite(f) & (f > 0)
        if ok.sum() < 4 * (degree + 1):
            continue
        w0, w1 = wave[ok].min(), wave[ok].max()
        u = (2.0 * wave - (w0 + w1)) / max(w1 - w0, 1e-12)
        V = np.vander(u, degree + 1)
        y = np.log(np.where(ok, f, 1.0))
        keep = ok.copy()
        for _ in range(n_iter):
            c, *_ = np.linalg.lstsq(V[keep], y[keep], rcond=None)
            r = y - V @ c
            s = MAD_TO_SIGMA * np.median(np.abs(r[keep]))
            if not s > 0:
                break
            new = ok & (r > -low * s) & (r < high * s)
            if new.sum() < 2 * (degree + 1) or np.array_equal(new, keep):
                break
            keep = new
        out[i] = np.exp(V @ c)
    return out


def rectify_continuum(wave, flux, mask=None, error=None, **kw):
    """``flux / continuum`` (and ``error / continuum``), see :func:`continuum`; returns
    ``(flux, error, mask)`` with rows that could not be fitted masked entirely."""
    flux = np.atleast_2d(np.asarray(flux, float))
    mask = np.zeros(flux.shape, bool) if mask is None else np.array(np.broadcast_to(mask, flux.shape), bool)
    cont = continuum(wave, flux, mask, **kw)
    bad = ~np.isfinite(cont) | (cont <= 0)
    mask = mask | bad
    cont = np.where(bad, 1.0, cont)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):   # masked pixels are replaced below
        flux = np.where(mask, 0.0, flux / cont)
        if error is not None:
            error = np.where(mask, 0.0, np.asarray(error, float) / cont)
    return flux, error, mask


def template_continuum(flux, mask=None, *, degree: int = 3, exclude=None, chunk: int = 256,
                       smooth_px: float = 2.0, broadening_px=(0.0, 1.5, 3.0, 4.5)) -> dict:
    """Continuum of rows already roughly rectified, placed as the MK atlas places it.

    ``flux`` (n, 1600) is on the contract grid (3800.0-4599.5 A).  Every row is fitted
    as ``P(u) * T`` with ``P`` a polynomial of degree ``degree`` in ``u`` (the grid
    scaled to [-1, 1]) and ``T`` each libr18 standard (the training atlas, smoothed
    and broadened as in :func:`zoo.families.autoclassmk.trust.standards`), by linear least
    squares over the pixels valid in both; the best standard's ``P`` is the
    continuum.  ``exclude`` (n,) gives, per row, the index of a standard to leave
    out (an evaluation of the rows' own stars), -1 for none.

    Returns ``{"coef": (n, degree + 1) polynomial coefficients (lowest order first),
    "standard": (n,) index of the best standard, "rms": (n,) its residual rms}``.
    """
    from .trust import gaussian_smooth, standards
    _, _, _, T, tvalid = standards(float(smooth_px), tuple(float(b) for b in broadening_px))
    m, nb, npix = T.shape
    t = (T + 1.0).reshape(m * nb, npix)
    tv = np.repeat(tvalid, nb, axis=0).astype(float)
    star = np.repeat(np.arange(m), nb)
    u = np.linspace(-1.0, 1.0, npix)
    d = degree + 1
    tt = [tv * t * t * u ** k for k in range(2 * d - 1)]          # moments of A
    tb = [tv * t * u ** k for k in range(d)]                       # moments of b
    flux = np.atleast_2d(np.asarray(flux, float))
    mask = np.zeros(flux.shape, bool) if mask is None else np.broadcast_to(np.asarray(mask, bool), flux.shape)
    exclude = np.full(flux.shape[0], -1) if exclude is None else np.asarray(exclude, int)
    xs = gaussian_smooth(np.where(mask, 1.0, flux), smooth_px)
    out = {"coef": np.zeros((flux.shape[0], d)), "standard": np.full(flux.shape[0], -1),
           "rms": np.full(flux.shape[0], np.nan)}
    idx = np.add.outer(np.arange(d), np.arange(d))
    for s in range(0, flux.shape[0], chunk):
        g = (~mask[s:s + chunk]).astype(float)
        x = xs[s:s + chunk]
        A = np.stack([g @ mk.T for mk in tt], axis=-1)[..., idx]              # (i, k, d, d)
        b = np.stack([(g * x) @ mk.T for mk in tb], axis=-1)                    # (i, k, d)
        sxx = (g * x * x) @ tv.T                                                # (i, k)
        npx = g @ tv.T
        A = A + 1e-9 * np.eye(d) * np.maximum(np.trace(A, axis1=2, axis2=3), 1.0)[..., None, None]
        c = np.linalg.solve(A, b[..., None])[..., 0]
        ss = sxx - np.einsum("ikj,ikj->ik", c, b)                               # at the optimum
        ms = np.maximum(ss, 0.0) / np.maximum(npx, 1.0)
        ms = np.where(star[None, :] == exclude[s:s + chunk, None], np.inf, ms)
        best = np.argmin(ms, axis=1)
        r = np.arange(len(best))
        out["coef"][s:s + chunk] = c[r, best]
        out["standard"][s:s + chunk] = star[best]
        out["rms"][s:s + chunk] = np.sqrt(ms[r, best])
    return out


def rectify_to_atlas(wave, flux, mask=None, error=None, *, exclude=None, refine: bool = True,
                     template_degree: int = 3, smooth_px: float = 2.0, broadening_px=(0.0, 1.5, 3.0, 4.5),
                     min_continuum: float = 0.05, **kw):
    """The MK family's rectification: :func:`rectify_continuum` (the upper envelope),
    then, with ``refine``, the envelope's continuum corrected to the atlas's placement by
    :func:`template_continuum` (on the contract grid; the correction, a cubic in
    wavelength, is applied on ``wave``).  Returns ``(flux, error, mask)``."""
    from zoo.registry import load_preset
    flux, error, mask = rectify_continuum(wave, flux, mask, error, **kw)
    if not refine:
        return flux, error, mask
    wave = np.asarray(wave, float)
    grid = load_preset("autoclassmk").input.wavelength()
    same = wave.size == grid.size and np.allclose(wave, grid, atol=1e-6)
    if same:
        fg, mg = flux, mask
    else:
        from zoo.preprocess import resample
        fg, mg = resample(flux, wave, grid, mask)
    fit = template_continuum(fg, mg, degree=template_degree, exclude=exclude, smooth_px=smooth_px,
                             broadening_px=broadening_px)
    u = (2.0 * wave - (grid[0] + grid[-1])) / (grid[-1] - grid[0])
    cont = np.polynomial.polynomial.polyval(u, fit["coef"].T)           # (n, pixels)
    bad = ~np.isfinite(cont) | (cont <= min_continuum)
    mask = mask | bad
    cont = np.where(bad, 1.0, cont)
    flux = np.where(mask, 0.0, flux / cont)
    if error is not None:
        error = np.where(mask, 0.0, error / cont)
    return flux, error, mask


def step_params() -> dict:
    """The contract's ``instrument_step_params["mk_rectify"]``: the envelope fit's numbers
    (:data:`DEFAULTS`) and the refinement's (:func:`template_continuum`; it needs the libr18
    standards bundled with the zoo, ``zoo/families/autoclassmk/data/mk_atlas/libr18``)."""
    import inspect
    tc = {k: p.default for k, p in inspect.signature(template_continuum).parameters.items()
          if p.default is not inspect.Parameter.empty}
    return {**DEFAULTS, "refine": True, "refine_atlas": "libr18", "refine_degree": tc["degree"],
            "refine_smooth_px": tc["smooth_px"], "refine_broadening_px": list(tc["broadening_px"]),
            "refine_min_continuum": REFINE_MIN_CONTINUUM}


#: The refined continuum must exceed this; pixels where it does not are missing.
REFINE_MIN_CONTINUUM = 0.05


@register_native_step(STEP)
def mk_rectify_step(wave, flux, error, mask, medium, *, refine: bool = True, refine_atlas: str = "libr18",
                    refine_degree: int = 3, refine_smooth_px: float = 2.0,
                    refine_broadening_px=(0.0, 1.5, 3.0, 4.5), refine_min_continuum: float = REFINE_MIN_CONTINUUM,
                    **envelope):
    """Native step ``"mk_rectify"``: :func:`rectify_to_atlas` on the spectrum's own pixels with
    the contract's ``instrument_step_params["mk_rectify"]`` (the fit range 3800-4600 A is the
    contract's, in its medium; a vacuum spectrum is fitted over the same pixels shifted by the
    ~1.1 A air-vacuum difference, immaterial for a polynomial continuum)."""
    if refine_atlas != "libr18":
        raise ValueError(f"{STEP}: refine_atlas must be 'libr18', not {refine_atlas!r}")
    flux, error, mask = rectify_to_atlas(wave, flux, mask, error, refine=refine, template_degree=int(refine_degree),
                                         smooth_px=float(refine_smooth_px),
                                         broadening_px=tuple(refine_broadening_px),
                                         min_continuum=float(refine_min_continuum), **envelope)
    return wave, flux, error, mask, medium


# ----------------------------------------------------------------------------- test SEDs
#: Approximate effective temperatures [K] of the spectral classes (dwarf scale after Pecaut &
#: Mamajek 2013, rounded); used only to give the test SEDs a plausible shape.
TEFF = {"O4": 42900, "O5": 41400, "O6": 39500, "O7": 37100, "O8": 35100, "O9": 32300, "B0": 31400,
        "B1": 26000, "B2": 20600, "B3": 17000, "B5": 15700, "B7": 14000, "B8": 12300, "B9": 10700,
        "A0": 9700, "A1": 9300, "A3": 8600, "A5": 8100, "A7": 7760, "F0": 7220, "F2": 6820, "F3": 6750,
        "F5": 6550, "F6": 6350, "F8": 6180, "F9": 6050, "G0": 5930, "G2": 5770, "G5": 5660, "G8": 5480,
        "K0": 5270, "K2": 5100, "K3": 4830, "K5": 4440, "K7": 4100}


def blackbody(wave_aa, teff) -> np.ndarray:
    """Planck B_lambda (arbitrary units) at ``teff`` [K] (scalar or (n,)) on ``wave_aa``, (n, pixels)."""
    lam = np.asarray(wave_aa, float)[None, :] * 1e-8                    # cm
    t = np.atleast_1d(np.asarray(teff, float))[:, None]
    x = 1.4387769 / (lam * t)                                           # h c / (lambda k T)
    return 1.0 / (lam ** 5 * np.expm1(x))


#: :func:`smooth_sed`: sigmas of the response coefficients a1, a2, a3 and the range of log10(flux level)
SED_RESPONSE_SIGMAS = (0.3, 0.2, 0.1)
SED_LOG_SCALE = (-17.0, -13.0)


def smooth_sed(wave_aa, teff, rng: np.random.Generator, response_sigmas=SED_RESPONSE_SIGMAS,
               log_scale=SED_LOG_SCALE) -> np.ndarray:
    """Test SEDs, one per ``teff``: a blackbody times a smooth random instrument response
    ``exp(a1 u + a2 u^2 + a3 u^3)`` (``u`` in [-1, 1] over the grid, ``a_k ~ N(0,
    response_sigmas[k-1])``: throughput changing by tens of percent across 3800-4600 A),
    scaled to a random flux level ``10**U(log_scale)`` (erg/s/cm^2/A-like numbers)."""
    wave = np.asarray(wave_aa, float)
    bb = blackbody(wave, teff)
    n = bb.shape[0]
    u = np.linspace(-1.0, 1.0, wave.size)
    a = rng.normal(0.0, 1.0, (n, len(response_sigmas))) * np.asarray(response_sigmas)
    resp = np.exp(sum(a[:, k:k + 1] * u ** (k + 1) for k in range(len(response_sigmas))))
    sed = bb * resp
    sed /= np.median(sed, axis=1, keepdims=True)
    return sed * 10.0 ** rng.uniform(*log_scale, (n, 1))
