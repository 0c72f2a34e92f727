"""A simulator of H-alpha spectra in the thesis's three classes, as the Ondřejov CCD700 or
LAMOST records them.

The thesis trained on 12,937 labelled Ondřejov spectra (Table 6.1), which cannot be
had here.  This simulator draws spectra as the CCD700 records them -- air
wavelengths, rectified flux, R ~ 13000, the archive's two pixel grids -- so that
they go through exactly the thesis's Ondřejov path (air -> vacuum, blur, regrid,
standardize) like a real Ondřejov file.  docs/bestars.md shows the real
spectra (γ Cas, Vega, BT CMi, HD 208905) inside the simulated distribution.

Survey realism (ours; issue 19; :meth:`SimConfig.legacy` switches it all off and gives the
simulator of commit 9850d08 bitwise).  The thesis applies its networks to LAMOST, whose
spectra are mostly F/G/K/M stars at S/N ~5-100 per pixel, while the CCD700 set (and the
legacy simulator) holds hot stars at high S/N; the papers say nothing about simulators.
G/K/M photospheres (``group_weights``)
    The absorption class draws B/A/F stars (the analytic profiles below) and G, K and M
    stars from the DESI redrock stellar archetypes (``rrtemplate-STAR-{G,K,M}-v0.1``, the
    project's trimmed copy ``zoo/data/redrock/redrock_lamost.npz``, R = 3000): weak H-alpha
    among metal lines, and for M stars the TiO bands from 6651 A (:func:`cool_archetypes`:
    rectified by their upper envelope; archetypes with a peak next to H-alpha -- the latest
    M types' band heads -- or non-positive flux are left out: ``cool_halpha_excess_max``).
    Default weights B 0.2, A 0.2, F 0.15, G 0.15, K 0.15, M 0.15.
Emission on cool photospheres (``emission_cool_share``)
    Be stars are B stars, so the emission and double-peak classes keep their hot
    photospheres (``emission_group_weights``, unchanged), except that 10 % of the emission
    class's single-peaked lines sit on a G/K/M archetype: the classes are defined by the
    line's shape (thesis Sec. 6.1), LAMOST's H-alpha emitters include chromospherically
    active (dMe) and young K/M stars, and without them a network could learn "molecular
    bands -> absorption" instead of looking at H-alpha.
LAMOST rendering (``survey_share``, ``survey_snr_range``)
    Half of all spectra are rendered as LAMOST records them: the noiseless CCD700-grid
    spectrum through the thesis's domain adaptation (air -> vacuum, the 7-pixel blur: R ~ 1600,
    LAMOST's is ~1800), interpolated onto LAMOST's log-linear pixels (log10 lambda = 3.5682 +
    1e-4 k, vacuum, 6500-6735 A: :func:`lamost_grid`), with white photon noise at a
    continuum S/N per LAMOST pixel log-uniform in 8-150; they then take the LAMOST path
    (regrid, standardize), like a real LAMOST file.  The range was chosen so that the noise
    of the standardized inputs (:func:`input_noise`) covers that of the 103 real LAMOST
    files, while a PCA out-of-domain reference fitted to the simulated inputs still flags
    pure noise (a lower end of 5 lets a third of it in; ``scripts/bestars_sim_realism.py``,
    docs/bestars.md).  The other half is rendered as before (Ondřejov, S/N 20-400 per
    CCD700 pixel).

Physics (every range is a field of :class:`SimConfig`)
------------------------------------------------------
Photosphere (absorption class; under the emission of the other classes or not)
    H-alpha (6562.80 A air) as a pseudo-Voigt: a Gaussian core plus Lorentzian
    (Stark) wings, ``1 - D [(1 - eta) G + eta L]``, with depth ``D``, the equivalent
    width ``EW`` and the Lorentzian share ``eta`` drawn per spectral group:
    B stars (EW 2-6 A, depth 0.2-0.45, v sin i 50-350 km/s, He I 6678 present),
    A stars (EW 7-16 A, depth 0.45-0.78, the strongest Balmer lines, Vega-like
    wings), F stars (EW 3-7 A, depth 0.35-0.6, v sin i <= 100 km/s, Fe I / Ca I
    lines).  Rotation: Gray's rotational kernel (limb darkening 0.6).
Emission (single-peaked)
    A pseudo-Voigt emission line of peak 0.1-10 x the continuum (log-uniform,
    issue 9), FWHM 1.5-12 A, on top of a photospheric profile or not (half each).
    The net profile must peak at least 0.1 above the continuum (else redrawn).
Double-peak
    A rotating Keplerian disk (``v ∝ r^-1/2`` from the star to ``R_out`` = 3-15
    stellar radii, emissivity ``∝ r^-q``, q = 1.5-3), seen at ``v_out sin i`` such
    that the peak separation is 100-500 km/s (2.2-11 A); a one-armed density
    wave ``1 + a cos(phi - phi0)`` gives the V/R asymmetry (|a| <= 0.4); local
    (thermal + turbulent) broadening 10-30 km/s.  Peak 0.1-5 x the continuum.
    Kept only when the noiseless profile shows two peaks above the continuum
    with a central depression of at least 10 % of the weaker peak's height
    (else redrawn) -- judged on the *model input* (``label_at_input``, the
    default): after the thesis's path (air -> vacuum, 7-pixel blur, the
    140-point grid), where the network sees it.  A disk whose peaks the blur
    merges is, at the input, a single-peaked line: it carries no information
    the network could use to call it double-peak, and it is what LAMOST
    (R ~ 1800) records of such a star.  So such disks are drawn as part of the
    *emission* class (``emission_disk_share`` = 30 % of it), and the emission
    class never shows a resolved dip at the input.  Ours: the thesis labelled
    real Ondřejov spectra by eye at R ~ 13000 (Sec. 6.1); with
    ``label_at_input=False`` the criteria are judged at R = 13000 (the first
    exported models, 2026-11-25).
Common to all
    radial velocity N(0, 30) km/s (clipped to +-150); instrumental Gaussian of
    R = 13000; a smooth continuum tilt and curvature (1 + a1 x + a2 (x^2 - 1/3), x
    in [-1, 1] over the range, a1 ~ N(0, 0.06), a2 ~ N(0, 0.08): 0.027 per 100 A and
    0.016 per (100 A)^2 at 1 sigma, so that the tilts of the bundled files -- up to
    0.05 per 100 A and 0.03 per (100 A)^2 in LAMOST's flux-calibrated spectra
    (scripts/bestars_figures.py prints them) -- lie inside); photon noise
    ``sqrt(f) / SNR`` with the continuum S/N per pixel log-uniform in 20-400; a
    flux scale; telluric H2O lines (measured on the bundled files:
    ``scripts/bestars_telluric_lines.py``) at the observed wavelengths, present
    in 70 % of spectra with a strength factor 0-3.
Pixel grids: the two CCD700 set-ups of the bundled files (6282.16 A + 0.25667 A x
1757, as γ Cas and Vega; 6282.23 A + 0.23092 A x 1953, as BT CMi), half each.

The dataset counts follow the thesis's Table 6.1 (emission 5301, absorption 6103,
double-peak 1533; :data:`~zoo.families.bestars.recipes.THESIS_CLASS_COUNTS`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from zoo.stats import MAD_TO_SIGMA

__all__ = ["SimConfig", "simulate_spectrum", "simulate_dataset", "SimData", "HALPHA_AIR",
           "TELLURIC_LINES", "GRIDS", "C_KMS", "profile_peaks", "input_view", "cool_archetypes",
           "COOL_GROUPS", "lamost_grid", "PRESETS", "LEGACY_CHANGES", "input_noise", "blur_noise_factor"]

C_KMS = 299792.458
#: H-alpha, air wavelength [A].
HALPHA_AIR = 6562.80
#: The CCD700 pixel grids of the bundled files: (first wavelength [A, air], step [A], pixels).
GRIDS = ((6282.16, 0.256655, 1757), (6282.23, 0.230918, 1953))
#: Telluric lines (air A, typical depth), printed by ``scripts/bestars_telluric_lines.py`` from
#: the bundled Ondřejov files (narrow dips at the same observed wavelength in >= 2 files).
TELLURIC_LINES = (
    (6310.68, 0.020), (6486.72, 0.018), (6490.87, 0.059), (6492.88, 0.043), (6495.70, 0.047),
    (6514.74, 0.055), (6523.68, 0.038), (6532.15, 0.032), (6543.70, 0.046), (6548.57, 0.024),
    (6574.75, 0.034),
)
#: Weak photospheric lines (air A) by spectral group.
METAL_LINES = {"B": (6678.15, 6578.05, 6582.88, 6347.11, 6371.37),
               "A": (6347.11, 6371.37, 6456.38),
               "F": (6546.24, 6572.78, 6592.91, 6593.87, 6609.11, 6677.99, 6494.98, 6643.63)}
CLASSES = ("emission", "absorption", "double-peak")
#: Spectral groups drawn from the DESI redrock stellar archetypes (``zoo/data/redrock``) instead of
#: the analytic H-alpha profile.
COOL_GROUPS = ("G", "K", "M")
#: LAMOST's log-linear vacuum pixel grid (every DR1-DR5 low-resolution file): log10(A) = 3.5682 + 1e-4 k.
LAMOST_LOGLAM0, LAMOST_DLOGLAM = 3.5682, 1e-4
#: LAMOST's resolving power around H-alpha, for comparison only (the survey rendering uses the thesis's blur,
#: not this; the thesis, Sec. 2.8, quotes 500, 1000 or 1500 for the telescope's modes).
LAMOST_RESOLVING_POWER = 1800.0
#: Index of the LAMOST rendering in ``params["grid"]`` (after the CCD700 grids).
SURVEY_GRID = len(GRIDS)


@dataclass(frozen=True)
class SimConfig:
    """Every range of the simulator (see the module docstring for the physics)."""

    resolving_power: float = 13000.0
    snr_range: tuple = (20.0, 400.0)              # continuum S/N per pixel, log-uniform
    rv_sigma_kms: float = 30.0
    rv_max_kms: float = 150.0
    slope_sigma: float = 0.06
    curvature_sigma: float = 0.08
    flux_scale_range: tuple = (0.5, 2.0)          # log-uniform
    telluric_probability: float = 0.7
    telluric_strength_max: float = 3.0
    #: spectral groups of the absorption class (B/A/F analytic, G/K/M redrock archetypes)
    group_weights: tuple = (("B", 0.2), ("A", 0.2), ("F", 0.15), ("G", 0.15), ("K", 0.15), ("M", 0.15))
    ew_range: tuple = (("B", 2.0, 6.0), ("A", 7.0, 16.0), ("F", 3.0, 7.0))
    depth_range: tuple = (("B", 0.20, 0.45), ("A", 0.45, 0.78), ("F", 0.35, 0.60))
    vsini_range: tuple = (("B", 50.0, 350.0), ("A", 10.0, 250.0), ("F", 5.0, 100.0))
    lorentz_share: tuple = (("B", 0.2, 0.6), ("A", 0.5, 0.9), ("F", 0.3, 0.7))
    metal_depth_max: float = 0.15
    emission_peak_range: tuple = (0.1, 10.0)      # peak above continuum, continuum units, log-uniform
    emission_fwhm_range: tuple = (1.5, 12.0)      # A
    emission_on_photosphere: float = 0.5
    min_emission_peak: float = 0.1
    disk_separation_kms: tuple = (100.0, 500.0)   # peak separation
    disk_rout_range: tuple = (3.0, 15.0)          # stellar radii
    disk_q_range: tuple = (1.5, 3.0)
    disk_asymmetry_max: float = 0.4
    disk_local_kms: tuple = (10.0, 30.0)
    disk_peak_range: tuple = (0.1, 5.0)
    disk_on_photosphere: float = 0.7
    min_central_depression: float = 0.1           # of the weaker peak's height above the continuum
    label_at_input: bool = True                   # class criteria judged on the model input (ours)
    emission_disk_share: float = 0.3              # emission spectra drawn as disks unresolved at the input
    # --- survey realism (ours, issue 19; SimConfig.legacy() switches all of it off) ---
    #: photospheres under the emission and double-peak classes' lines when not B (the other 20 %)
    emission_group_weights: tuple = (("B", 0.4), ("A", 0.4), ("F", 0.2))
    #: share of the emission class's single-peaked lines drawn on a G/K/M photosphere (chromospheric
    #: H-alpha of dMe and young stars; the G/K/M weights of ``group_weights``)
    emission_cool_share: float = 0.1
    #: a G/K/M archetype is used only if its flux is positive over 6250-6780 A and its maximum within
    #: +-3.5 A of H-alpha stays below (1 + this) x the median of 6540-6552 and 6577-6590 A
    cool_halpha_excess_max: float = 0.02
    #: share of spectra rendered as LAMOST records them (vacuum, the thesis's blur: R ~ 1600, 1e-4 dex pixels)
    survey_share: float = 0.5
    #: continuum S/N per LAMOST pixel (~1.5 A), log-uniform: the inputs' noise then covers that of the
    #: real LAMOST files, and pure noise stays out of domain (scripts/bestars_sim_realism.py)
    survey_snr_range: tuple = (8.0, 150.0)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def legacy(cls, **changes) -> "SimConfig":
        """The simulator of the models exported up to commit 9850d08 (B/A/F photospheres only,
        every spectrum Ondřejov-rendered at S/N 20-400): seeded draws are bitwise those of
        that code on the same machine (tested to 1e-12 against
        ``tests/data/emission_sim_legacy.npz``: numpy's SIMD kernels differ in the last bit by CPU)."""
        return cls(**{**LEGACY_CHANGES, **changes})

    @classmethod
    def preset(cls, name: str) -> "SimConfig":
        """``"survey"`` (the default fields) or ``"legacy"`` (:meth:`legacy`): the recipe's
        ``simulator`` field."""
        if name not in PRESETS:
            raise ValueError(f"simulator preset must be one of {PRESETS}, not {name!r}")
        return cls() if name == "survey" else cls.legacy()

    def _by_group(self, name, group):
        for g, lo, hi in getattr(self, name):
            if g == group:
                return lo, hi
        raise KeyError(group)


#: Fields whose values before the survey-realism change (commit 9850d08) give that simulator.
LEGACY_CHANGES = {"group_weights": (("B", 0.4), ("A", 0.4), ("F", 0.2)), "emission_cool_share": 0.0,
                  "survey_share": 0.0}
#: Names of :meth:`SimConfig.preset` (the recipe's ``simulator``).
PRESETS = ("survey", "legacy")


# ----------------------------------------------------------------------------- cool photospheres
#: Rest-frame vacuum range of the archetypes kept (the CCD700 range, +-150 km/s, and margins).
_ARCH_RANGE = (6250.0, 6780.0)
#: Half-width [A] of the window around H-alpha where :func:`cool_archetypes` looks for a peak.
COOL_HALPHA_CORE_HALF_WIDTH = 3.5


@lru_cache(maxsize=4)
def cool_archetypes(excess_max: float = 0.02) -> dict:
    """The DESI redrock stellar archetypes of G, K and M stars (``rrtemplate-STAR-{G,K,M}-v0.1``, as
    trimmed in ``zoo/data/redrock/redrock_lamost.npz``: R = 3000, 5e-5 dex pixels, vacuum, rest
    frame) over 6250-6780 A, each rectified by a straight line through its upper envelope (as an
    archive spectrum is rectified; the simulator's tilt and curvature come on top).

    Kept: archetypes with positive flux over the range whose rectified maximum within +-3.5 A of
    H-alpha (6564.6 A vacuum) stays below ``(1 + excess_max)`` x the median of 6540-6552 and 6577-6590 A:
    this drops the latest M types, whose band heads put a peak next to H-alpha that the network
    could not tell from emission.  Returns ``{group: (wave, flux[n, pix])}``.
    """
    from importlib import resources
    path = resources.files("zoo") / "data" / "redrock" / "redrock_lamost.npz"
    with resources.as_file(path) as f, np.load(f) as d:
        loglam = float(d["star_loglam0"]) + float(d["step"]) * np.arange(int(d["star_npix"]))
        wave = 10 ** loglam
        sel = (wave >= _ARCH_RANGE[0]) & (wave <= _ARCH_RANGE[1])
        wave = wave[sel]
        out = {}
        for g in COOL_GROUPS:
            flux = d[f"star_{g}_coeff"].astype(float) @ d[f"star_{g}_basis"].astype(float)[:, sel]
            flux = flux[flux.min(1) > 0]
            rect = _rectify(wave, flux)
            core = np.abs(wave - 6564.6) < COOL_HALPHA_CORE_HALF_WIDTH
            side = ((wave > 6540) & (wave < 6552)) | ((wave > 6577) & (wave < 6590))
            ok = rect[:, core].max(1) <= (1 + excess_max) * np.median(rect[:, side], 1)
            out[g] = (wave, rect[ok])
    return out


def _rectify(wave, flux, iterations: int = 6):
    """Each row of ``flux`` divided by a straight line fitted, repeatedly, to the points on or
    above the last fit (least squares, all rows at once)."""
    x = (wave - wave.mean()) / np.ptp(wave)
    keep = np.ones(flux.shape, bool)
    for _ in range(iterations):
        w = keep.astype(float)
        s0, sx, sxx = w.sum(1), w @ x, w @ x ** 2
        sy, sxy = (w * flux).sum(1), (w * flux) @ x
        b = (s0 * sxy - sx * sy) / (s0 * sxx - sx ** 2)
        a = (sy - b * sx) / s0
        line = a[:, None] + b[:, None] * x[None, :]
        above = flux >= line
        keep = np.where((above.sum(1) >= 20)[:, None], above, keep)
    return flux / line


# ----------------------------------------------------------------------------- profiles
def _pseudo_voigt(x, fwhm_g, fwhm_l, eta):
    """Peak-normalized (1 at x = 0) mix of a Gaussian and a Lorentzian."""
    g = np.exp(-4 * np.log(2) * (x / fwhm_g) ** 2)
    lor = 1.0 / (1.0 + (2 * x / fwhm_l) ** 2)
    return (1 - eta) * g + eta * lor


def _smooth(y, sigma_px):
    if sigma_px <= 0.05:
        return y
    from scipy.ndimage import gaussian_filter1d
    return gaussian_filter1d(y, sigma_px, mode="nearest")


def _rotate(y, step_kms, vsini, epsilon=0.6):
    """Convolve with Gray's rotational broadening kernel (limb darkening ``epsilon``)."""
    if vsini < 2 * step_kms:
        return y
    n = int(np.ceil(vsini / step_kms))
    v = np.arange(-n, n + 1) * step_kms / vsini
    v = np.clip(v, -1, 1)
    k = (2 * (1 - epsilon) * np.sqrt(1 - v ** 2) + 0.5 * np.pi * epsilon * (1 - v ** 2))
    k /= k.sum()
    pad = np.pad(y, n, mode="edge")
    return np.convolve(pad, k, mode="same")[n:-n]


def _disk(wave, center, v_sep, r_out, q, asym, phi0, sig_loc_kms, step_kms):
    """Keplerian disk emission, peak-normalized, on ``wave`` (before the instrument)."""
    v_out = 0.5 * v_sep
    r = np.geomspace(1.0, r_out, 80)
    phi = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    vk = v_out * np.sqrt(r_out / r)
    vlos = (vk[:, None] * np.cos(phi)[None, :]).ravel()
    w = ((r ** (2.0 - q))[:, None] * (1 + asym * np.cos(phi - phi0))[None, :]).ravel()
    lam = center * (1 + vlos / C_KMS)
    step = wave[1] - wave[0]
    edges = np.concatenate([wave - step / 2, [wave[-1] + step / 2]])
    prof, _ = np.histogram(lam, bins=edges, weights=w)
    prof = _smooth(prof, sig_loc_kms / step_kms)
    return prof / prof.max()


def input_view(wave_air, flux):
    """``(wave_vac, flux)`` of a native Ondřejov-grid profile as the model sees it: air ->
    vacuum (Eqs. 7.1-7.3), the 7-pixel blur, linear interpolation onto the 140-point grid
    (before the standardization, which changes no shape)."""
    from .preprocess import air_to_vacuum_thesis, gaussian_blur, thesis_grid
    grid = thesis_grid()
    return grid, np.interp(grid, air_to_vacuum_thesis(wave_air), gaussian_blur(flux[None, :])[0])


def _resolved(wave, clean, center, cfg):
    """Two peaks above the continuum with a central depression (the double-peak criterion),
    judged on the model input (``cfg.label_at_input``) or on the native grid; returns the
    measured peak separation [A] or ``None``."""
    if cfg.label_at_input:
        from .preprocess import air_to_vacuum_thesis
        wave, clean = input_view(wave, clean)
        center = float(air_to_vacuum_thesis(center))
    pk = profile_peaks(wave, clean, center)
    if pk is None:
        return None
    weak = min(pk[0], pk[1])
    if weak < 1.02 or weak - pk[2] < max(cfg.min_central_depression * (weak - 1), 0.01):
        return None
    return abs(pk[3] - pk[4])


def profile_peaks(wave, flux, center, half_width=15.0, min_sep=1.0):
    """The two highest local maxima of ``flux`` within ``half_width`` A of ``center`` that are
    at least ``min_sep`` A apart, and the minimum between them: ``(p1, p2, dip, w1, w2)``
    (``None`` when there is no second maximum)."""
    sel = np.nonzero(np.abs(wave - center) < half_width)[0]
    f = flux[sel]
    loc = np.nonzero((f[1:-1] > f[:-2]) & (f[1:-1] >= f[2:]))[0] + 1
    if loc.size < 2:
        return None
    order = loc[np.argsort(f[loc])[::-1]]
    a = order[0]
    far = [b for b in order[1:] if abs(wave[sel][b] - wave[sel][a]) >= min_sep]
    if not far:
        return None
    b = far[0]
    lo, hi = sorted((a, b))
    return f[a], f[b], f[lo:hi + 1].min(), wave[sel][a], wave[sel][b]


# ----------------------------------------------------------------------------- one spectrum
def _cool_photosphere(wave, rng, cfg, group, rv):
    """A rectified redrock archetype of ``group`` (G/K/M) at radial velocity ``rv`` on the air
    wavelengths ``wave``."""
    from .preprocess import air_to_vacuum_thesis
    arch_wave, arch = cool_archetypes(cfg.cool_halpha_excess_max)[group]
    i = int(rng.integers(len(arch)))
    rest = air_to_vacuum_thesis(wave) / (1 + rv / C_KMS)
    return np.interp(rest, arch_wave, arch[i]), {"group": group, "archetype": i}


def _pick(rng, weights):
    groups, w = zip(*weights)
    return groups[rng.choice(len(groups), p=np.array(w) / sum(w))]


def _photosphere(x_kms, rng, cfg, group, step_kms):
    """Photospheric absorption (1 - depth profile) on a velocity axis, rotated."""
    ew = rng.uniform(*cfg._by_group("ew_range", group))
    depth = rng.uniform(*cfg._by_group("depth_range", group))
    eta = rng.uniform(*cfg._by_group("lorentz_share", group))
    ratio = rng.uniform(1.0, 3.0)                      # Lorentzian FWHM / Gaussian FWHM
    # EW = depth * [(1-eta) * 1.0645 * Fg + eta * pi/2 * Fl], Fl = ratio * Fg
    fwhm_g = ew / (depth * ((1 - eta) * 1.0645 + eta * 0.5 * np.pi * ratio))
    fwhm_g_kms = fwhm_g / HALPHA_AIR * C_KMS
    vsini = rng.uniform(*cfg._by_group("vsini_range", group))
    line = depth * _pseudo_voigt(x_kms, fwhm_g_kms, ratio * fwhm_g_kms, eta)
    prof = 1.0 - _rotate(line, step_kms, vsini)
    return prof, {"group": group, "ew": ew, "depth": depth, "eta": eta, "vsini": vsini}


def _metals(wave, rng, cfg, group, rv, vsini, step_kms):
    out = np.ones_like(wave)
    if group in COOL_GROUPS:      # the archetypes carry their own lines
        return out
    for lam in METAL_LINES[group]:
        d = rng.uniform(0.0, cfg.metal_depth_max)
        c = lam * (1 + rv / C_KMS)
        line = d * np.exp(-0.5 * ((wave - c) / 0.25) ** 2)
        out -= _rotate(line, step_kms, vsini)
    return out


def simulate_spectrum(cls: str, rng: np.random.Generator, cfg: SimConfig = SimConfig(),
                      grid: int | None = None, noise: bool = True, survey: bool | None = None):
    """One spectrum of class ``cls``, as the Ondřejov CCD700 records it or (a share
    ``cfg.survey_share`` of spectra; ``survey=True``/``False`` forces it) as LAMOST does.

    Returns ``(wave, flux, params)``: the CCD700 grid (air A; ``params["instrument"]``
    ``"ondrejov"``) or a stretch of LAMOST's log-linear grid (vacuum A, ``"lamost"``), the
    observed flux (noisy unless ``noise=False``) and a dict of the drawn parameters,
    including ``clean`` (the noiseless, unscaled profile on the CCD700 grid, before
    tellurics, metals and tilt) for tests and ``input_snr`` (the continuum S/N per pixel
    of the 140-point model input).
    """
    if cls not in CLASSES:
        raise ValueError(f"class must be one of {CLASSES}, not {cls!r}")
    if survey is None:       # no draw when the share is 0: the legacy stream stays bitwise the same
        survey = cfg.survey_share > 0 and rng.random() < cfg.survey_share
    g = rng.integers(len(GRIDS)) if grid is None else grid
    start, step, n = GRIDS[g]
    wave = start + step * np.arange(n)
    step_kms = step / HALPHA_AIR * C_KMS
    rv = float(np.clip(rng.normal(0, cfg.rv_sigma_kms), -cfg.rv_max_kms, cfg.rv_max_kms))
    center = HALPHA_AIR * (1 + rv / C_KMS)
    x_kms = (wave - center) / HALPHA_AIR * C_KMS
    sig_inst_px = HALPHA_AIR / cfg.resolving_power / 2.3548 / step
    p = {"class": cls, "grid": int(g), "rv": rv}
    cool_weights = tuple((gr, w) for gr, w in cfg.group_weights if gr in COOL_GROUPS)

    as_disk = cls == "double-peak" or (cls == "emission" and cfg.label_at_input
                                       and rng.random() < cfg.emission_disk_share)
    cool = (cls == "emission" and not as_disk and cfg.emission_cool_share > 0 and bool(cool_weights)
            and rng.random() < cfg.emission_cool_share)         # chromospheric emission (ours)
    for _ in range(200):
        if cool:
            group, under = _pick(rng, cool_weights), True
        else:
            group = _pick(rng, cfg.group_weights) if cls == "absorption" else \
                "B" if rng.random() < 0.8 else _pick(rng, cfg.emission_group_weights)
            under = (cls == "absorption" or rng.random() <
                     (cfg.emission_on_photosphere if cls == "emission" else cfg.disk_on_photosphere))
        if not under:
            phot, pp = np.ones_like(wave), {}
        elif group in COOL_GROUPS:
            phot, pp = _cool_photosphere(wave, rng, cfg, group, rv)
        else:
            phot, pp = _photosphere(x_kms, rng, cfg, group, step_kms)
        emis = np.zeros_like(wave)
        if cls == "emission" and not as_disk:
            peak = np.exp(rng.uniform(*np.log(cfg.emission_peak_range)))
            fwhm = rng.uniform(*cfg.emission_fwhm_range)
            eta = rng.uniform(0.0, 0.5)
            ec = center + rng.normal(0, 0.3)
            emis = peak * _pseudo_voigt(wave - ec, fwhm, 1.5 * fwhm, eta)
            pp.update({"emission_peak": peak, "emission_fwhm": fwhm})
        if as_disk:
            peak = np.exp(rng.uniform(*np.log(cfg.disk_peak_range)))
            sep = rng.uniform(*cfg.disk_separation_kms)
            r_out = rng.uniform(*cfg.disk_rout_range)
            q = rng.uniform(*cfg.disk_q_range)
            asym = rng.uniform(-cfg.disk_asymmetry_max, cfg.disk_asymmetry_max)
            loc = rng.uniform(*cfg.disk_local_kms)
            emis = peak * _disk(wave, center, sep, r_out, q, asym, rng.uniform(0, 2 * np.pi), loc, step_kms)
            pp.update({"disk_peak": peak, "peak_separation_kms": sep, "r_out": r_out, "q": q,
                       "asymmetry": asym, "disk": True})
        clean = _smooth(phot + emis, sig_inst_px)
        if cls == "emission":
            if clean[np.abs(wave - center) < 15].max() < 1 + cfg.min_emission_peak:
                continue
            if cfg.label_at_input:
                if _resolved(wave, clean, center, cfg) is not None:
                    continue    # a resolved dip at the input belongs to double-peak
            else:
                pk = profile_peaks(wave, clean, center)
                if pk is not None and pk[1] > 1 + 0.02 and min(pk[0], pk[1]) - pk[2] > 0.02:
                    continue    # an emission profile with a resolved dip belongs to double-peak
        elif cls == "double-peak":
            sep_a = _resolved(wave, clean, center, cfg)
            if sep_a is None:
                continue
            pp["measured_separation_A"] = sep_a
        break
    else:  # pragma: no cover
        raise RuntimeError(f"could not draw a {cls} profile meeting its class criterion")
    p.update(pp)
    p["under_photosphere"] = bool(under)
    metals = _metals(wave, rng, cfg, group, rv, pp.get("vsini", 0.0), step_kms) if under else 1.0
    tell = np.ones_like(wave)
    if rng.random() < cfg.telluric_probability:
        s = rng.uniform(0, cfg.telluric_strength_max)
        for lam, d in TELLURIC_LINES:
            tell -= min(d * s, 0.6) * np.exp(-0.5 * ((wave - lam) / (0.2 + rng.uniform(0, 0.05))) ** 2)
        p["telluric_strength"] = s
    xn = (wave - wave.mean()) / (0.5 * (wave[-1] - wave[0]))
    cont = 1 + rng.normal(0, cfg.slope_sigma) * xn + rng.normal(0, cfg.curvature_sigma) * (xn ** 2 - 1 / 3)
    body = _smooth((phot + emis) * metals, sig_inst_px) * _smooth(tell, sig_inst_px) * cont
    p["clean"] = clean
    if survey:
        from .preprocess import air_to_vacuum_thesis, gaussian_blur
        lam = lamost_grid()
        body = np.interp(lam, air_to_vacuum_thesis(wave), gaussian_blur(body))
        wave, n = lam, lam.size
    snr = float(np.exp(rng.uniform(*np.log(cfg.survey_snr_range if survey else cfg.snr_range))))
    p["snr"] = snr
    # noise per pixel of the 140-point input: LAMOST's white noise is resampled about 1:1; the
    # CCD700's is averaged by the 7-pixel blur (sum of the squared kernel weights: 1 / 4.98)
    p["input_snr"] = snr if survey else snr / blur_noise_factor()
    p["instrument"] = "lamost" if survey else "ondrejov"
    if survey:
        p["grid"] = SURVEY_GRID
    scale = float(np.exp(rng.uniform(*np.log(cfg.flux_scale_range))))
    p["flux_scale"] = scale
    flux = body
    if noise:
        flux = body + rng.normal(size=n) * np.sqrt(np.clip(body, 0.01, None)) / snr
    return wave, flux * scale, p


@lru_cache(maxsize=1)
def blur_noise_factor() -> float:
    """What the thesis's 7-pixel blur leaves of white noise: ``sqrt(sum k^2)`` = 0.2008."""
    from .preprocess import gaussian_kernel
    return float(np.sqrt(np.sum(gaussian_kernel() ** 2)))


@lru_cache(maxsize=1)
def _lamost_grid() -> np.ndarray:
    from .preprocess import air_to_vacuum_thesis
    hi = min(float(air_to_vacuum_thesis(start + step * (n - 1))) for start, step, n in GRIDS)
    k = np.arange(np.ceil((np.log10(6500.0) - LAMOST_LOGLAM0) / LAMOST_DLOGLAM),
                  np.floor((np.log10(hi) - LAMOST_LOGLAM0) / LAMOST_DLOGLAM) + 1)
    return 10 ** (LAMOST_LOGLAM0 + LAMOST_DLOGLAM * k)


def lamost_grid() -> np.ndarray:
    """The LAMOST pixels (vacuum A) of the survey rendering: LAMOST's fixed log-linear grid from
    6500 A to the red end of the CCD700 grids (covering the model's 6519-6732 A)."""
    return _lamost_grid().copy()


def input_noise(x) -> np.ndarray:
    """The noise of each standardized 140-pixel input row, measured on the row itself: 1.4826 x
    the median absolute deviation of its second differences / sqrt(6), the sigma of
    pixel-independent noise in units of the row's standard deviation.  Lines add a floor
    (~0.001-0.03 for noiseless simulated rows); correlated noise (the CCD700's after the blur)
    reads low.  One statistic for simulated and real inputs alike
    (``scripts/bestars_sim_realism.py``, docs/bestars.md)."""
    d2 = np.diff(np.atleast_2d(np.asarray(x, float)), 2, axis=1)
    return MAD_TO_SIGMA * np.median(np.abs(d2 - np.median(d2, axis=1, keepdims=True)), axis=1) / np.sqrt(6)


# ----------------------------------------------------------------------------- a dataset
@dataclass
class SimData:
    """Simulated spectra after the thesis's Ondřejov path, on the contract grid."""

    x: np.ndarray            # (n, 140) float32, standardized
    y: np.ndarray            # (n,) int, index into CLASSES
    snr: np.ndarray          # (n,) continuum S/N per native pixel (CCD700 or LAMOST)
    params: list             # per-spectrum parameter dicts (without the clean profile)
    classes: tuple = CLASSES
    input_snr: np.ndarray | None = None    # (n,) continuum S/N per pixel of the 140-point input
    instrument: np.ndarray | None = None   # (n,) "ondrejov" or "lamost": how each was rendered


def simulate_dataset(counts: dict, contract, seed: int = 0, cfg: SimConfig = SimConfig(),
                     keep_native: bool = False):
    """``counts[class]`` spectra of each class, shuffled, each through its instrument's path
    (Ondřejov: :func:`zoo.families.bestars.preprocess.instrument_path` then the contract;
    LAMOST: the contract only), as a real file of that instrument would go.

    With ``keep_native`` also returns the native spectra ``[(wave, flux), ...]`` (air for
    Ondřejov, vacuum for LAMOST: ``data.instrument`` says which).
    """
    from zoo.preprocess import to_contract

    from .preprocess import air_to_vacuum_thesis, gaussian_blur
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(counts.get(c, 0), i) for i, c in enumerate(CLASSES)])
    rng.shuffle(labels)
    by_grid = {g: [] for g in range(len(GRIDS) + 1)}
    params, snr, native = [], np.zeros(labels.size), []
    for i, lab in enumerate(labels):
        wave, flux, p = simulate_spectrum(CLASSES[lab], rng, cfg)
        p.pop("clean")
        params.append(p)
        snr[i] = p["snr"]
        by_grid[p["grid"]].append((i, flux))
        if keep_native:
            native.append((wave, flux))
    x = np.zeros((labels.size, contract.n_pixels), np.float32)
    for g, rows in by_grid.items():
        if not rows:
            continue
        idx = np.array([r[0] for r in rows])
        flux = np.stack([r[1] for r in rows])
        if g == SURVEY_GRID:
            x[idx] = to_contract(flux, contract, lamost_grid(), medium="vacuum").flux
            continue
        start, step, n = GRIDS[g]
        wave_vac = air_to_vacuum_thesis(start + step * np.arange(n))
        x[idx] = to_contract(gaussian_blur(flux), contract, wave_vac, medium="vacuum").flux
    data = SimData(x=x, y=labels, snr=snr, params=params,
                   input_snr=np.array([p["input_snr"] for p in params], float),
                   instrument=np.array([p["instrument"] for p in params], dtype="<U8"))
    return (data, native) if keep_native else data
