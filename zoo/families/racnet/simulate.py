"""LAMOST-like low-resolution spectra simulated from the DESI redrock templates.

The 70,000 LAMOST spectra of Zou et al. (2020) cannot be had here, so the
RAC-Net family trains on simulated spectra.  Sources (``zoo/data/redrock``,
trimmed from desihub/redrock-templates, BSD-3; see its PROVENANCE.md):

- **STAR**: the A, F, G, K, M class bases with one row of their
  ``ARCHETYPE_COEFF`` (the archetype spectra of redrock), radial velocity
  N(0, ``rv_sigma``); B, WD and CV stars exist for out-of-domain tests only;
- **GALAXY**: the 750 galaxy archetypes, z ~ U(``galaxy_z``);
- **QSO**: the DR16Q eigenspectra (``LOZ`` below z = 1.6, ``HIZ`` above), mean
  spectrum plus the three eigenspectra with coefficients N(0, s_k ||b_0||),
  s = ``qso_eigen_sigma`` (the first eigenspectrum then changes the mean
  quasar by ~20 % rms, the others less: continuum-slope and line-strength
  scatter of that order is what quasar composites show, Vanden Berk et al.
  2001), a further power-law tilt (lambda_rest/2500)^da with da ~
  N(0, ``qso_slope_sigma``), stochastic Lyman-alpha forest fluctuations
  around the template's mean absorption and a random Lyman-limit break;
  z ~ U(``qso_z``);
- **UNKNOWN** (Sec. 2.1: "bad quality spectra with low confidence in template
  matching"): a mixture of (a) any object at S/N 0.3-2, (b) sky-dominated
  spectra (faint object, sky subtracted wrongly by 50-300 %), and (c) broken
  spectra (one arm lost to noise, a failed flux calibration, a jump of 2-6x
  at the arm join, or hundreds of cosmic-ray spikes).

The instrument model, all on the contract's log-linear grid (the LAMOST
DR1-DR5 grid, 3699.99 A + 1e-4 dex steps): Gaussian line-spread function
with R ~ U(``resolution``) (the templates are stored at R = 3000);
interstellar reddening (Cardelli, Clayton & Mathis 1989, R_V = 3.1);
telluric O2/H2O absorption bands; a smooth multiplicative flux-calibration
error exp(sum c_k P_k(x)), c_k ~ N(0, ``calib_sigma``), Legendre to degree
3; the blue/red arm join at U(``join_range``) A with the red side scaled by
1 + N(0, ``join_sigma``) and doubled noise within 40 A of it; sky emission
(continuum, [O I] 5577/6300/6364, Na D, Hg I, a schematic OH forest in the
Meinel bands) whose subtraction leaves residuals of N(0, ``sky_residual``)
of its lines and adds its Poisson noise; per-pixel noise from object + sky
+ read noise through a two-arm throughput curve, scaled to a median S/N in
6000-7000 A drawn per class (``snr_*``: log-normal median and width);
masked pixels (bad-column runs, sky-line cores, the low-throughput blue end).

Everything is numpy; :func:`simulate` returns raw flux (arbitrary scale),
1-sigma errors and masks on the contract grid, ready for
:func:`zoo.preprocess.to_contract`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["mk_index", "mk_label", "lick_ew", "SimConfig", "Templates", "templates", "simulate", "contract_loglam",
           "LOGLAM0", "DLOGLAM", "star_colour", "survey_library",
           "N_PIXELS", "STAR_TYPES", "KINDS", "sky_spectrum", "telluric", "ccm_extinction", "LYA"]

LOGLAM0 = 3.5682          # log10 of the first contract wavelength (LAMOST DR1-DR5 CRVAL1)
DLOGLAM = 1e-4            # dex per pixel (LAMOST CD1_1)
N_PIXELS = 3899           # 3699.99-9078.2 A, the shorter of the two LAMOST file lengths
LYA = 1215.67
STAR_TYPES = ("A", "F", "G", "K", "M")
#: every kind simulate() knows: the classes and the out-of-domain probes
KINDS = ("STAR", "GALAXY", "QSO", "UNKNOWN", "A", "B", "F", "G", "K", "M", "WD", "CV")
C_KMS = 299792.458
#: R_V of the CCM89 extinction curve
R_V = 3.1
#: cap of the legacy simulator's exponential stellar E(B-V) (``SimConfig.legacy()``; survey mode draws real stars')
EBV_STAR_MAX = 0.8
#: quasars use the DR16Q LOZ eigenspectra below this redshift, HIZ at and above it
QSO_HIZ_Z = 1.6
#: pivot wavelength (rest frame, A) of the quasars' power-law tilt (lambda / QSO_PIVOT) ** d_alpha
QSO_PIVOT = 2500.0
#: a quasar draw with more than this share of negative flux in band is drawn again
QSO_MAX_NEGATIVE = 0.05
#: the band (A) whose median S/N a spectrum is scaled to
SNR_BAND = (6000.0, 7000.0)
#: noise doubled within this many A of the arm join, and the join masked in this share of spectra
JOIN_NOISE_HALF_WIDTH = 40
JOIN_MASK_PROB = 0.3
#: UNKNOWN kinds: (a) the S/N range of a low-S/N spectrum; (b) a sky-dominated one: the object's S/N, the sky
#: level over the usual and the wrong sky subtraction (share of the sky lines, either sign); (c) a broken one:
#: the sigma of a failed flux calibration (Legendre coefficients of log flux, degree UNKNOWN_CALIB_DEGREE), the
#: factor of a jump at the arm join, the number of cosmic-ray spikes
UNKNOWN_LOW_SNR = (0.3, 2.0)
UNKNOWN_SKY_SNR = (1.0, 5.0)
UNKNOWN_SKY_FACTOR = (3.0, 30.0)
UNKNOWN_SKY_RESID = (0.5, 3.0)
UNKNOWN_CALIB_SIGMA = 1.2
UNKNOWN_CALIB_DEGREE = 4
UNKNOWN_JUMP = (2.0, 6.0)
UNKNOWN_SPIKES = (50, 300)


def contract_loglam(n: int = N_PIXELS) -> np.ndarray:
    return LOGLAM0 + DLOGLAM * np.arange(n)


@dataclass(frozen=True)
class SimConfig:
    """Every number of the simulator (documented in the module docstring and docs/racnet.md)."""

    resolution: tuple = (1500.0, 2100.0)      # R range of the Gaussian LSF (LAMOST: R ~ 1800)
    rv_sigma: float = 50.0                    # km/s, stellar radial velocities
    ebv_star: float = 0.15                    # mean E(B-V) of stars (exponential, capped at 0.8)
    ebv_extragalactic: float = 0.03           # mean E(B-V) for galaxies and QSOs
    galaxy_z: tuple = (0.0, 0.5)
    qso_z: tuple = (0.1, 4.0)
    qso_eigen_sigma: tuple = (0.2, 0.1, 0.07)
    qso_slope_sigma: float = 0.3
    snr_star: tuple = (25.0, 0.7)             # log-normal median, sigma(ln) of the median S/N per pixel
    snr_galaxy: tuple = (10.0, 0.5)
    snr_qso: tuple = (8.0, 0.5)
    snr_min: float = 3.0
    snr_max: float = 300.0
    calib_sigma: float = 0.08                 # Legendre coefficients of the log flux-calibration error
    join_range: tuple = (5800.0, 5950.0)
    join_sigma: float = 0.05
    sky_to_object: tuple = (0.05, 3.0)        # log-uniform sky continuum / object flux (6000-7000 A)
    sky_residual: float = 0.03                # sky-line subtraction residual, fraction of the lines
    read_noise: float = 0.05                  # read noise variance, in object-flux units at S/N scale
    bad_runs_mean: float = 1.5                # Poisson mean of bad-pixel runs per spectrum
    mask_sky_core_prob: float = 0.5
    mask_blue_end_prob: float = 0.3
    star_weights: tuple = (0.10, 0.30, 0.30, 0.20, 0.10)   # A, F, G, K, M in the STAR class
    #: how F/G/K stars are labelled: "mk" (the archetypes of the A, F, G, K templates relabelled by the
    #: MK-standard line index below) or "redrock" (the template's class)
    star_labels: str = "mk"
    #: Lick HdA + HgA boundaries A/F, F/G, G/K (A) of the labels: Zou et al.'s Data set 3 uses the LAMOST
    #: pipeline's SUBCLASS, so the boundaries reproduce the header types of the real dev stars (chosen on
    #: them, index at R = 1800; scripts/racnet_survey_calibration.py prints them and their 4-fold
    #: cross-validated agreement).  The legacy boundaries (19.2, -2.0, -11.2) were the midpoints between
    #: A7/F0, F9/G0, G8/K0 of the MKCLASS standards (scripts/racnet_mk_calibration.py): LAMOST's
    #: subclasses sit about one subtype cooler than the MK scale.
    mk_boundaries: tuple = (9.8, -5.9, -12.1)
    unknown_mix: tuple = (0.4, 0.3, 0.3)      # low S/N, sky-dominated, broken
    # ---- the survey calibration (issue #19; ours): scripts/racnet_survey_calibration.py measures these on the
    # 88 real LAMOST dev stars and writes data/lamost_dev_calibration.npz.  SimConfig.legacy() is the
    # simulator before it (every field below at its "off" value), reproduced bitwise.
    #: "lamost_dev": noise through the measured throughput curve, and each spectrum's continuum drawn from
    #: a real star's (effective E(B-V) for stars, calibration residual for every class); "none": the
    #: schematic two-arm throughput (``_throughput``) and the E(B-V) / calibration priors above
    survey: str = "lamost_dev"
    #: one log-normal (median, sigma(ln)) of the S/N at 6000-7000 A for every class (None: per class,
    #: ``snr_star``/``snr_galaxy``/``snr_qso``, which made noise a class cue)
    snr_all: tuple | None = (37.8, 0.7)
    #: resolving power at which the archetypes' MK index is measured (None: the stored R = 3000, rest frame)
    mk_index_resolution: float | None = 1800.0
    #: F/G/K pools keep archetypes with intrinsic log10(f4500/f6100) at least this (None: all)
    colour_min: float | None = -0.254
    #: arrays replacing the packaged calibration (keys throughput, ebv, resid), for cross-validation only
    library: dict | None = None

    @classmethod
    def legacy(cls) -> "SimConfig":
        """The simulator as it was before the survey calibration (the exported models of 2026-11/12)."""
        return cls(survey="none", snr_all=None, mk_index_resolution=None, colour_min=None,
                   mk_boundaries=(19.2, -2.0, -11.2), calib_sigma=0.08)


# --------------------------------------------------------------------------- templates
class Templates:
    """The trimmed redrock bases (``zoo/data/redrock/redrock_lamost.npz``)."""

    def __init__(self, path: str | None = None):
        path = path or str(resources.files("zoo") / "data" / "redrock" / "redrock_lamost.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: the trimmed redrock templates are missing "
                                    "(python scripts/racnet_trim_templates.py writes them)")
        with np.load(path) as d:
            self.d = {k: d[k] for k in d.files}
        self.step = float(self.d["step"])
        self.r_store = float(self.d["r_store"])
        self._cache: dict = {}

    def grid(self, prefix: str) -> np.ndarray:
        return float(self.d[f"{prefix}_loglam0"]) + self.step * np.arange(int(self.d[f"{prefix}_npix"]))

    def basis(self, key: str) -> np.ndarray:
        if f"{key}_basis64" not in self._cache:
            self._cache[f"{key}_basis64"] = self.d[f"{key}_basis"].astype(float)
        return self._cache[f"{key}_basis64"]

    def coeff(self, key: str) -> np.ndarray | None:
        c = self.d.get(f"{key}_coeff")
        return None if c is None else c.astype(float)


@lru_cache(maxsize=1)
def templates() -> Templates:
    return Templates()


# --------------------------------------------------------------------------- physics pieces
def ccm_extinction(wave_aa: np.ndarray, ebv: float, r_v: float = R_V) -> np.ndarray:
    """Transmission 10**(-0.4 A_lambda) of Cardelli, Clayton & Mathis (1989) for E(B-V)."""
    return 10 ** (-0.4 * r_v * ebv * _ccm_curve(wave_aa, r_v))


def _ccm_curve(wave_aa: np.ndarray, r_v: float = R_V) -> np.ndarray:
    """A_lambda / A_V of CCM89 (IR below x = 1.1 / um, optical polynomial above)."""
    x = 1e4 / np.asarray(wave_aa, float)
    a = np.empty_like(x)
    b = np.empty_like(x)
    ir = x < 1.1
    a[ir], b[ir] = 0.574 * x[ir] ** 1.61, -0.527 * x[ir] ** 1.61
    y = x[~ir] - 1.82
    a[~ir] = (1 + 0.17699 * y - 0.50447 * y ** 2 - 0.02427 * y ** 3 + 0.72085 * y ** 4
              + 0.01979 * y ** 5 - 0.77530 * y ** 6 + 0.32999 * y ** 7)
    b[~ir] = (1.41338 * y + 2.28305 * y ** 2 + 1.07233 * y ** 3 - 5.38434 * y ** 4
              - 0.62251 * y ** 5 + 5.30260 * y ** 6 - 2.09002 * y ** 7)
    return a + b / r_v


#: telluric absorption bands (vacuum A): (start, end, depth at R~1800)
_TELLURIC = ((6866.0, 6886.0, 0.25), (7160.0, 7340.0, 0.08), (7594.0, 7632.0, 0.55),
             (8130.0, 8350.0, 0.08), (8950.0, 9100.0, 0.12))
#: bright night-sky lines (vacuum A) and peak strength relative to the sky continuum per pixel
_SKY_LINES = ((4359.6, 3.0), (5462.3, 3.0), (5578.9, 30.0), (5891.6, 6.0), (5897.6, 6.0),
              (6302.0, 12.0), (6365.5, 4.0))
#: Meinel OH bands (vacuum A): the schematic forest puts lines in these ranges
_OH_BANDS = ((6830.0, 6960.0), (7240.0, 7420.0), (7750.0, 8060.0), (8280.0, 8510.0), (8760.0, 9080.0))


def _band_profiles(wave_aa: np.ndarray) -> np.ndarray:
    edge = 4.0
    x = np.asarray(wave_aa, float)
    return np.array([depth * 0.5 * (1 + np.tanh((x - lo) / (2 * edge))) * 0.5 * (1 - np.tanh((x - hi) / (2 * edge)))
                     for lo, hi, depth in _TELLURIC])


@lru_cache(maxsize=4)
def _contract_profiles(n: int) -> tuple[np.ndarray, np.ndarray]:
    wave = 10 ** contract_loglam(n)
    return _band_profiles(wave), _ccm_curve(wave)


def telluric(wave_aa: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Multiplicative telluric transmission (smooth-edged boxes of the O2 and H2O bands)."""
    return np.prod(1 - scale * _band_profiles(wave_aa), axis=0)


@lru_cache(maxsize=4)
def _sky_lines(n: int = N_PIXELS) -> tuple[np.ndarray, np.ndarray]:
    """Sky continuum and line spectrum on the contract grid (R ~ 1800), continuum = 1 at 6500 A."""
    wave = 10 ** contract_loglam(n)
    cont = 0.6 + 0.4 * (wave / 6500.0) ** 1.5
    rng = np.random.default_rng(12345)          # the schematic OH forest is fixed
    lines = list(_SKY_LINES)
    for lo, hi in _OH_BANDS:
        for w in np.arange(lo, hi, 11.0) + rng.uniform(-3, 3, size=int(np.ceil((hi - lo) / 11.0))):
            lines.append((w, float(rng.uniform(1.0, 10.0) * (w / 7000.0) ** 2)))
    sig = wave / 1800.0 / 2.3548
    spec = np.zeros_like(wave)
    for w0, amp in lines:
        spec += amp * np.exp(-0.5 * ((wave - w0) / sig) ** 2)
    return cont, spec


def sky_spectrum(n: int = N_PIXELS) -> np.ndarray:
    """The model night sky (continuum + lines) on the contract grid."""
    cont, lines = _sky_lines(n)
    return cont + lines


def _throughput(wave: np.ndarray, join: float) -> np.ndarray:
    """Relative two-arm throughput (noise only): blue arm 3700-join, red arm join-9100."""
    blue = np.clip((wave - 3550) / 900, 0.08, 1.0) * (1 / (1 + np.exp((wave - join) / 40)))
    red = (1 / (1 + np.exp(-(wave - join) / 40))) * np.clip(1.0 - 0.65 * ((wave - 7200) / 1900) ** 2, 0.3, 1.0)
    return np.clip(blue + red, 0.05, None)


def _gauss_kernel(sigma_px: float) -> np.ndarray:
    if sigma_px <= 0.05:
        return np.ones(1)
    half = max(1, int(np.ceil(4 * sigma_px)))
    x = np.arange(-half, half + 1)
    k = np.exp(-0.5 * (x / sigma_px) ** 2)
    return k / k.sum()


def _legendre_poly(n: int, coeffs) -> np.ndarray:
    x = np.linspace(-1, 1, n)
    return np.polynomial.legendre.legval(x, np.concatenate([[0.0], coeffs]))


# --------------------------------------------------------------------------- objects (rest frame)
def _observe(rest: np.ndarray, rest_grid: np.ndarray, z: float, res: float, tpl: Templates,
             loglam: np.ndarray) -> np.ndarray:
    """Broaden from the stored R to ``res`` (log space commutes with redshift), shift, sample."""
    sig_target = 1 / (res * np.log(10) * 2.3548)
    sig_store = 1 / (tpl.r_store * np.log(10) * 2.3548)
    extra = np.sqrt(max(sig_target ** 2 - sig_store ** 2, 0.0)) / tpl.step
    k = _gauss_kernel(extra)
    sm = np.convolve(rest, k, mode="same") if k.size > 1 else rest
    return np.interp(loglam - np.log10(1 + z), rest_grid, sm, left=np.nan, right=np.nan)


#: Lick indices (Worthey & Ottaviani 1997; air A): band, blue and red pseudo-continuum
LICK = {"HdA": ((4083.50, 4122.25), (4041.60, 4079.75), (4128.50, 4161.00)),
        "HgA": ((4319.75, 4363.50), (4283.50, 4319.75), (4367.25, 4419.75))}


def lick_ew(wave_air, flux, band, blue, red) -> float:
    """Equivalent width (A) in ``band`` against the line between the pseudo-continua means."""
    def mean(a):
        s = (wave_air >= a[0]) & (wave_air <= a[1])
        return wave_air[s].mean(), np.mean(flux[s])
    (x1, y1), (x2, y2) = mean(blue), mean(red)
    s = (wave_air >= band[0]) & (wave_air <= band[1])
    cont = y1 + (y2 - y1) * (wave_air[s] - x1) / (x2 - x1)
    return float(np.sum(1 - flux[s] / cont) * np.median(np.diff(wave_air[s])))


def mk_index(wave_air, flux) -> float:
    """HdA + HgA (A): large for A/F stars, falling monotonically through G to K (MK standards)."""
    return sum(lick_ew(np.asarray(wave_air, float), np.asarray(flux, float), *v) for v in LICK.values())


def mk_label(index: float, boundaries: tuple | None = None) -> str:
    """A/F/G/K of an HdA + HgA index (boundaries: ``SimConfig().mk_boundaries`` unless given)."""
    af, fg, gk = SimConfig().mk_boundaries if boundaries is None else boundaries
    return "A" if index > af else "F" if index > fg else "G" if index > gk else "K"


def star_colour(wave_aa, flux) -> float:
    """log10(f4500 / f6100): mean flux in 4450-4550 A over 6050-6150 A (vacuum)."""
    b = (wave_aa >= 4450) & (wave_aa <= 4550)
    r = (wave_aa >= 6050) & (wave_aa <= 6150)
    return float(np.log10(np.mean(flux[b]) / np.mean(flux[r])))


@lru_cache(maxsize=4)
def _mk_pools(boundaries: tuple, resolution: float | None = None, colour_min: float | None = None) -> dict:
    """(template class, archetype row) of the A, F, G, K archetypes by their MK label.

    ``resolution``: measure the index on the archetype broadened to this R on the contract grid (as a
    real LAMOST spectrum is measured) instead of the stored R = 3000; ``colour_min``: leave out
    archetypes whose intrinsic colour (:func:`star_colour`) is bluer."""
    tpl = templates()
    wave_air = 10 ** tpl.grid("star") / 1.000277     # vacuum -> air (enough for 20-40 A bands)
    loglam = contract_loglam()
    pools: dict = {}
    for t in ("A", "F", "G", "K"):
        basis, coeff = tpl.basis(f"star_{t}"), tpl.coeff(f"star_{t}")
        for i, c in enumerate(coeff):
            rest = c @ basis
            if resolution is None:
                label = mk_label(mk_index(wave_air, rest), boundaries)
            else:
                obs = _observe(rest, tpl.grid("star"), 0.0, resolution, tpl, loglam)
                wave = 10 ** loglam
                if colour_min is not None and star_colour(wave, obs) < colour_min:
                    continue
                label = mk_label(mk_index(wave / 1.000277, obs), boundaries)
            pools.setdefault(label, []).append((t, i))
    return pools


@lru_cache(maxsize=2)
def _packaged_library() -> dict:
    path = resources.files("zoo") / "families" / "racnet" / "data" / "lamost_dev_calibration.npz"
    with resources.as_file(path) as p, np.load(p) as d:
        return {k: d[k] for k in ("throughput", "ebv", "resid")}


def survey_library(cfg: "SimConfig") -> dict | None:
    """The measured throughput and continuum library of ``cfg.survey`` (None for "none")."""
    if cfg.survey == "none":
        return None
    if cfg.survey != "lamost_dev":
        raise ValueError(f"SimConfig.survey must be 'lamost_dev' or 'none', not {cfg.survey!r}")
    return cfg.library if cfg.library is not None else _packaged_library()


def _star_ebv(rng, cfg):
    """Stars' E(B-V): the exponential prior, or (survey mode) None: the library row decides."""
    if cfg.survey != "none":
        return None
    return min(rng.exponential(cfg.ebv_star), EBV_STAR_MAX)


def _star(tpl, rng, subtype, cfg):
    if subtype in ("F", "G", "K") and cfg.star_labels == "mk":
        pool = _mk_pools(tuple(cfg.mk_boundaries), cfg.mk_index_resolution, cfg.colour_min)[subtype]
        t, i = pool[rng.integers(len(pool))]
        c = tpl.coeff(f"star_{t}")[i]
        z = rng.normal(0, cfg.rv_sigma) / C_KMS
        ebv = _star_ebv(rng, cfg)
        return c @ tpl.basis(f"star_{t}"), tpl.grid("star"), z, ebv, {"subtype": subtype, "template": t, "z": z}
    basis = tpl.basis(f"star_{subtype}")
    coeff = tpl.coeff(f"star_{subtype}")
    if coeff is None:   # CV: no archetypes; the mean basis plus a little of the others
        c = np.concatenate([[1.0], rng.normal(0, 0.1, basis.shape[0] - 1)])
    else:
        c = coeff[rng.integers(len(coeff))]
    z = rng.normal(0, cfg.rv_sigma) / C_KMS
    ebv = _star_ebv(rng, cfg)
    return c @ basis, tpl.grid("star"), z, ebv, {"subtype": subtype, "template": subtype, "z": z}


def _galaxy(tpl, rng, cfg):
    basis, coeff = tpl.basis("galaxy"), tpl.coeff("galaxy")
    z = rng.uniform(*cfg.galaxy_z)
    ebv = rng.exponential(cfg.ebv_extragalactic)
    return coeff[rng.integers(len(coeff))] @ basis, tpl.grid("galaxy"), z, ebv, {"subtype": "", "z": z}


def _qso(tpl, rng, cfg, z=None):
    z = rng.uniform(*cfg.qso_z) if z is None else z
    sub = "loz" if z < QSO_HIZ_Z else "hiz"
    basis, grid = tpl.basis(f"qso_{sub}"), tpl.grid(f"qso_{sub}")
    norm0 = float(np.sqrt(np.sum(basis[0] ** 2)))
    for _ in range(20):
        c = np.concatenate([[1.0], rng.normal(0, 1, 3) * np.asarray(cfg.qso_eigen_sigma) * norm0])
        f = c @ basis
        lam = 10 ** grid
        f = f * (lam / QSO_PIVOT) ** rng.normal(0, cfg.qso_slope_sigma)
        band = (grid >= LOGLAM0 - np.log10(1 + z)) & (grid <= LOGLAM0 + DLOGLAM * N_PIXELS - np.log10(1 + z))
        if np.mean(f[band] < 0) < QSO_MAX_NEGATIVE:
            break
    forest = lam < LYA
    if forest.any():
        fl = 1 + 0.35 * np.convolve(rng.normal(size=forest.sum()), _gauss_kernel(2.0), mode="same") * 2.5
        f[forest] *= np.clip(fl, 0.0, 3.0)
        llim = lam < 912.0
        f[llim] *= rng.uniform(0.0, 1.0)
    f = np.clip(f, 0.0, None)
    ebv = rng.exponential(cfg.ebv_extragalactic)
    return f, grid, z, ebv, {"subtype": sub, "z": z}


# --------------------------------------------------------------------------- the instrument
def _instrument(rest, rest_grid, z, ebv, snr, rng, cfg, tpl, loglam, *, sky_factor=None,
                sky_resid=None, object_scale=1.0):
    """Object (rest frame) -> observed flux, error, mask on ``loglam``."""
    n = loglam.size
    wave = 10 ** loglam
    res = rng.uniform(*cfg.resolution)
    f = _observe(rest, rest_grid, z, res, tpl, loglam)
    f = np.where(np.isfinite(f), f, 0.0)
    lib = survey_library(cfg)
    if lib is not None:                 # one real star's continuum: its E(B-V) (stars) and residual
        row = int(rng.integers(len(lib["ebv"])))
        if ebv is None:
            ebv = float(lib["ebv"][row])
    bands, ccm = _contract_profiles(n)
    f = f * 10 ** (-0.4 * R_V * ebv * ccm) * np.prod(1 - rng.uniform(0.7, 1.3) * bands, axis=0)
    red = (wave > SNR_BAND[0]) & (wave < SNR_BAND[1])
    med = np.median(f[red])
    if not med > 0:
        med = np.mean(np.abs(f)) + 1e-30
    f = f / med * object_scale
    # smooth flux-calibration error and the arm join
    f = f * np.exp(_legendre_poly(n, rng.normal(0, cfg.calib_sigma, 3)))
    if lib is not None:
        f = f * np.exp(_legendre_poly(n, np.asarray(lib["resid"][row], float)))
    join = rng.uniform(*cfg.join_range)
    f = np.where(wave > join, f * (1 + rng.normal(0, cfg.join_sigma)), f)
    # sky, throughput, noise
    cont, lines = _sky_lines(n)
    sky_level = np.exp(rng.uniform(*np.log(cfg.sky_to_object))) if sky_factor is None else sky_factor
    sky = sky_level * (cont + lines)
    if lib is None:
        thr = _throughput(wave, join)
    else:                               # measured on the dev stars (flux * ivar), on the contract grid
        T = np.asarray(lib["throughput"], float)
        thr = T if T.size == n else np.interp(wave, 10 ** contract_loglam(T.size), T)
    var_shape = (np.clip(f, 0, None) + sky + cfg.read_noise) / thr
    ratio = np.median((f / np.sqrt(var_shape))[red])
    k = max(ratio, 1e-6) / snr
    sigma = k * np.sqrt(var_shape)
    sigma = np.where(np.abs(wave - join) < JOIN_NOISE_HALF_WIDTH, 2 * sigma, sigma)
    resid = rng.normal(0, cfg.sky_residual) if sky_resid is None else sky_resid
    flux = f + resid * sky_level * lines + rng.normal(size=n) * sigma
    # masks
    mask = np.zeros(n, bool)
    for _ in range(rng.poisson(cfg.bad_runs_mean)):
        start = rng.integers(n)
        mask[start:start + 1 + rng.geometric(0.25)] = True
    if rng.random() < cfg.mask_sky_core_prob:
        for w0, amp in _SKY_LINES:
            if amp >= 6:
                mask[np.abs(wave - w0) < 2.5] = True
    if rng.random() < cfg.mask_blue_end_prob:
        mask[:rng.integers(0, 150)] = True
    if rng.random() < JOIN_MASK_PROB:
        mask[np.abs(wave - join) < rng.uniform(2, 15)] = True
    flux = np.where(mask, 0.0, flux)
    sigma = np.where(mask, 0.0, sigma)
    return flux, sigma, mask, {"snr": snr, "resolution": res, "ebv": ebv, "join": join}


def _snr(rng, cfg, kind):
    med, width = cfg.snr_all or {"GALAXY": cfg.snr_galaxy, "QSO": cfg.snr_qso}.get(kind, cfg.snr_star)
    return float(np.clip(med * np.exp(rng.normal(0, width)), cfg.snr_min, cfg.snr_max))


def _object(tpl, rng, cfg, kind, **kw):
    if kind == "GALAXY":
        return _galaxy(tpl, rng, cfg)
    if kind == "QSO":
        return _qso(tpl, rng, cfg, kw.get("z"))
    if kind == "STAR":
        kind = STAR_TYPES[rng.choice(len(STAR_TYPES), p=np.asarray(cfg.star_weights) / sum(cfg.star_weights))]
    return _star(tpl, rng, kind, cfg)


def _one(kind, rng, cfg, tpl, loglam, z=None, snr=None):
    if kind != "UNKNOWN":
        rest, grid, zz, ebv, info = _object(tpl, rng, cfg, kind, z=z)
        base = "STAR" if kind in STAR_TYPES or kind in ("B", "WD", "CV") else kind
        s = _snr(rng, cfg, base) if snr is None else snr
        flux, err, mask, inst = _instrument(rest, grid, zz, ebv, s, rng, cfg, tpl, loglam)
        return flux, err, mask, {**info, **inst, "kind": kind}
    how = ("low_snr", "sky", "broken")[rng.choice(3, p=np.asarray(cfg.unknown_mix) / sum(cfg.unknown_mix))]
    base = ("STAR", "GALAXY", "QSO")[rng.choice(3, p=[0.5, 0.3, 0.2])]
    rest, grid, zz, ebv, info = _object(tpl, rng, cfg, base)
    wave = 10 ** loglam
    n = loglam.size
    if how == "low_snr":
        flux, err, mask, inst = _instrument(rest, grid, zz, ebv, rng.uniform(*UNKNOWN_LOW_SNR), rng, cfg, tpl, loglam)
    elif how == "sky":
        flux, err, mask, inst = _instrument(rest, grid, zz, ebv, rng.uniform(*UNKNOWN_SKY_SNR), rng, cfg, tpl, loglam,
                                            sky_factor=rng.uniform(*UNKNOWN_SKY_FACTOR),
                                            sky_resid=rng.choice([-1, 1]) * rng.uniform(*UNKNOWN_SKY_RESID))
        if np.median(flux[flux != 0]) <= 0:    # over-subtracted below zero: keep a positive pedestal
            flux = np.where(flux != 0, flux - 2 * np.median(flux[flux != 0]), 0.0)
    else:
        flux, err, mask, inst = _instrument(rest, grid, zz, ebv, _snr(rng, cfg, base), rng, cfg, tpl, loglam)
        good = ~mask
        scale = np.median(np.abs(flux[good])) if good.any() else 1.0
        fault = ("arm", "calibration", "jump", "spikes")[rng.integers(4)]
        if fault == "arm":
            side = wave > inst["join"] if rng.random() < 0.5 else wave <= inst["join"]
            flux = np.where(side & good, scale * (rng.uniform(0.0, 0.3) + rng.normal(0, rng.uniform(0.2, 1.0), n)),
                            flux)
        elif fault == "calibration":
            flux = np.where(good, flux * np.exp(_legendre_poly(n, rng.normal(0, UNKNOWN_CALIB_SIGMA, UNKNOWN_CALIB_DEGREE))), flux)
        elif fault == "jump":
            fac = rng.uniform(*UNKNOWN_JUMP) ** rng.choice([-1, 1])
            flux = np.where(good & (wave > inst["join"]), flux * fac, flux)
        else:
            idx = rng.integers(0, n, rng.integers(*UNKNOWN_SPIKES))
            flux[idx] += scale * rng.uniform(3, 30, idx.size)
        inst["fault"] = fault
        flux = np.where(mask, 0.0, flux)
    if np.median(flux[~mask]) <= 0:
        flux = np.where(mask, 0.0, flux + 2 * abs(np.median(flux[~mask])) + 1e-3)
    return flux, err, mask, {**info, **inst, "kind": "UNKNOWN", "unknown": how, "base": base}


def simulate(kinds, rng=None, cfg: SimConfig | None = None, *, z=None, snr=None, n_pixels: int = N_PIXELS,
             scale_range: tuple = (0.1, 100.0)) -> dict:
    """Simulate one spectrum per entry of ``kinds`` (names of :data:`KINDS`).

    ``z`` / ``snr`` fix the redshift (QSO) or S/N for every spectrum.  Returns
    ``{"flux", "error", "mask"}`` (n, n_pixels) on the contract grid (raw flux,
    an arbitrary scale per spectrum, masked pixels 0) and ``"meta"``: a list of
    dicts (kind, subtype, z, snr, resolution, ebv, join, ...).
    """
    rng = np.random.default_rng(rng)
    cfg = cfg or SimConfig()
    tpl = templates()
    loglam = contract_loglam(n_pixels)
    kinds = list(kinds)
    for k in set(kinds):
        if k not in KINDS:
            raise ValueError(f"unknown kind {k!r}; known: {KINDS}")
    flux = np.zeros((len(kinds), n_pixels))
    err = np.zeros_like(flux)
    mask = np.zeros(flux.shape, bool)
    meta = []
    for i, kind in enumerate(kinds):
        f, e, m, info = _one(kind, rng, cfg, tpl, loglam, z=z, snr=snr)
        s = np.exp(rng.uniform(*np.log(scale_range)))
        flux[i], err[i], mask[i] = f * s, e * s, m
        meta.append(info)
    return {"flux": flux, "error": err, "mask": mask, "meta": meta}
