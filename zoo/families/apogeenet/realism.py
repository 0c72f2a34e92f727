"""What the simulated APOGEE spectra lack, as switchable effects (issue "Trust").

:func:`zoo.families.apogeenet.simulate.simulate_apogee` applies these when its
:class:`Realism` argument switches them on; every switch defaults to off, and
with all of them off the simulator draws exactly the same numbers as before
they existed (the effects take their random numbers from a separate stream,
``numpy.random.Generator.spawn`` of the simulator's generator, so switching
one on does not move the draws of the others or of the base simulation).
Recipe fields of the same names (:class:`zoo.families.apogeenet.recipes.ApogeeRecipe`)
set them from the training CLI.

Effects, in the order the simulator applies them, each with its physics and source
----------------------------------------------------------------------------------
``metal_poor_fraction``, ``feh_min``
    [Fe/H] down to the Kurucz emulator's floor (-0.99 dex, its ``x_min``).  The
    base simulation draws [Fe/H] ~ N(-0.1, 0.25) clipped at -0.95, so metal-poor
    stars are nearly absent; real APOGEE targets include the thick disc and halo
    (e.g. the bundled halo giant 2M12241699+2453335).  A fraction of the large
    group gets [Fe/H] uniform in [``feh_min``, -0.5]; ``feh_min`` is also the
    clip of the normal draw.
``spot_fraction`` (+ ``spot_filling``, ``spot_contrast``)
    Starspots as a two-temperature surface: flux = (1 - f) F(Teff) + f F(T_spot)
    with both Kurucz emulator spectra at the same log g and abundances (the
    emulator gives surface flux, so the area fraction f is the weight).
    Young and active cool stars are heavily spotted: Gully-Santiago et al.
    (2017, ApJ 836, 200) fit APOGEE-resolution IGRINS spectra of the T Tauri
    star LkCa 4 with two temperatures; Cao & Pinsonneault (2022, MNRAS 517,
    2165) measure spot filling factors of tens of per cent in APOGEE spectra of
    young cluster stars with T_spot/T_amb ~ 0.8.  Applied to that fraction of
    the YSO and M-dwarf groups with f ~ U(``spot_filling``) and
    T_spot/Teff ~ U(``spot_contrast``); T_spot is clipped at the emulator floor
    (3529 K), so for the coolest stars the contrast is smaller than drawn.
    The label stays the unspotted photosphere's Teff (an assumption).
``veiling_fraction`` (+ ``veiling_max``)
    Continuum excess of accreting young stars (hot accretion spots and warm
    inner disc): a featureless flux r C(lambda) added to the stellar flux F,
    C the stellar continuum (:func:`veil`).  Normalized, the spectrum becomes
    (f + r) / (1 + r): every line depth shrinks by 1 / (1 + r).  H-band veiling
    of classical T Tauri stars is of order 0.1-1 (e.g. Folha & Emerson 1999,
    A&A 352, 517; fitted for APOGEE YSOs by IN-SYNC, Cottaar et al. 2014, ApJ
    794, 125); here r ~ U(0, ``veiling_max``), flat over the 1.5-1.7 um band
    (its colour dependence across one band is left out), for that fraction of
    the YSO group.
``spline_throughput``
    Throughput and continuum shapes beyond the per-chip quadratic that the
    zoo's normalizer fits (and the quadratic throughput of the base
    simulation): a multiplicative ``exp(s(x))`` per chip, ``s`` a cubic spline
    through ``SPLINE_KNOTS`` knots evenly spaced along the chip (~40 A apart,
    much wider than a line) with values ~ N(0, ``spline_throughput``).
    Physics: flat-field and fibre-response residuals, persistence and telluric
    correction errors in real apStar continua ripple on scales of tens of A;
    The Cannon's and ASPCAP's normalizations leave per-cent-level residuals of
    this kind.  The amplitude is an assumption, not a measured APOGEE number.
``telluric_residual``
    The apStar flux is divided by a telluric model from hot-star standards;
    the column of each absorber differs from the model's: the delivered flux
    is F T(lambda)^delta with delta ~ N(0, ``telluric_residual``) per spectrum,
    so residuals appear only where the tellurics are (T < 1).  T is the real
    telluric spectrum of the bundled apStar file ``TEMPLATE_FILE`` (HDU 6;
    CO2, CH4 and H2O bands of the H band), shifted by a random whole number of
    pixels within +-``TEMPLATE_SHIFT`` (apStar is in the star's rest frame, so
    the telluric and sky features move with the star's radial velocity:
    one pixel ~ 4.1 km/s).
``sky_residual``
    The H band is dominated by OH airglow lines; sky subtraction leaves
    residuals at their positions.  Added flux a S(lambda) L with S the real sky
    spectrum of ``TEMPLATE_FILE`` (HDU 4) scaled to its 99th percentile
    on the chips, L the star's median flux per chip (after the throughput) and
    a ~ N(0, ``sky_residual``) x 100 / (S/N) per spectrum (the sky is relatively brighter for faint, low-S/N
    stars: S/N ~ sqrt(flux)).  The sky photon noise is not added to the errors.
``snr_min``, ``snr_sigma``
    (in :func:`simulate_apogee` directly) S/N down to 10: Olney et al. (2020)
    run APOGEE Net on the whole DR14 catalogue, low S/N included (their
    Sec. 3.5 and Fig. 4 reach S/N < 10); the base simulation starts at 30.
``label_noise``
    Training labels are not the truth: the Payne labels the paper trains on
    have "typical uncertainties, both random and systematic, ~100 K in Teff,
    ~0.1 dex in log g, and ~0.03 dex in abundance space" (Olney et al. 2020,
    Sec. 2.2, quoting Ting et al. 2019).  Gaussian noise of these widths is
    added to the labels the network learns; the spectra are made at the true
    labels (``SimulatedSet.labels_true``).  The paper quotes no uncertainty for
    its photometric M-dwarf and YSO labels (Sec. 2.3); the same widths are used
    for all groups.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources

import numpy as np

from zoo.families.apogeenet.apstar import APSTAR_CHIP_SLICES, aspcap_pixel_mask
from zoo.families.apogeenet.paper import LABEL_NOISE as PAPER_LABEL_NOISE

__all__ = ["Realism", "PAPER_LABEL_NOISE", "UPGRADED", "veil", "spot_mix", "spline_throughput",
           "telluric_template", "sky_template", "TEMPLATE_FILE"]

#: Knots of the throughput spline per chip (chips of 2920, 2400, 1894 pixels: ~110-170 px ~ 40 A apart).
SPLINE_KNOTS = 18
#: The bundled apStar file whose sky (HDU 4) and telluric (HDU 6) spectra are the templates.
TEMPLATE_FILE = "apStar-r6-2M14305591+0858023.fits"
#: Template shifts: whole pixels within +- this (~ +-80 km/s).
TEMPLATE_SHIFT = 20
#: The sky template is the sky spectrum over this percentile of itself (on the chips).
SKY_PERCENTILE = 99.0


@dataclass(frozen=True)
class Realism:
    """Switches of the realism effects (module docstring); the defaults are all off."""

    label_noise: tuple = (0.0, 0.0, 0.0)
    metal_poor_fraction: float = 0.0
    feh_min: float = -0.95
    spot_fraction: float = 0.0
    spot_filling: tuple = (0.1, 0.5)
    spot_contrast: tuple = (0.75, 0.9)
    veiling_fraction: float = 0.0
    veiling_max: float = 1.0
    spline_throughput: float = 0.0
    telluric_residual: float = 0.0
    sky_residual: float = 0.0

    @property
    def any_on(self) -> bool:
        return (any(v > 0 for v in self.label_noise) or self.metal_poor_fraction > 0 or self.spot_fraction > 0
                or self.veiling_fraction > 0 or self.spline_throughput > 0 or self.telluric_residual > 0
                or self.sky_residual > 0 or self.feh_min != -0.95)

    @classmethod
    def names(cls) -> tuple:
        return tuple(f.name for f in fields(cls))


#: The upgraded simulation of the sim-to-real benchmark (scripts/apogeenet_sim_to_real.py).
UPGRADED = Realism(label_noise=PAPER_LABEL_NOISE, metal_poor_fraction=0.1, feh_min=-0.99, spot_fraction=0.5,
                   veiling_fraction=0.5, veiling_max=1.0, spline_throughput=0.02, telluric_residual=0.1,
                   sky_residual=0.02)


# ----------------------------------------------------------------------------- templates
@lru_cache(maxsize=None)
def _templates():
    """(sky, telluric) of TEMPLATE_FILE on the 7214 ASPCAP pixels, float32."""
    from astropy.io import fits
    ref = resources.files("zoo") / "families" / "apogeenet" / "data" / "apogee" / TEMPLATE_FILE
    chips = aspcap_pixel_mask()
    with resources.as_file(ref) as p, fits.open(p, memmap=False) as h:
        sky = np.atleast_2d(np.asarray(h[4].data, float))[0][chips]
        tel = np.atleast_2d(np.asarray(h[6].data, float))[0][chips]
    sky = np.clip(np.nan_to_num(sky), 0.0, None)
    sky /= np.percentile(sky, SKY_PERCENTILE)
    tel = np.clip(np.nan_to_num(tel, nan=1.0), 1e-3, 1.0)
    return sky.astype(np.float32), tel.astype(np.float32)


def _shifted(template, shifts, fill):
    """Rows of ``template`` (7214,) shifted by whole pixels within each chip."""
    out = np.empty((len(shifts), template.size), np.float32)
    o = 0
    for s in APSTAR_CHIP_SLICES:
        n = s.stop - s.start
        seg = template[o:o + n]
        for i, k in enumerate(shifts):
            out[i, o:o + n] = np.roll(seg, k)
            if k > 0:
                out[i, o:o + k] = fill
            elif k < 0:
                out[i, o + n + k:o + n] = fill
        o += n
    return out


def telluric_template(shifts) -> np.ndarray:
    """Telluric transmission (n, 7214) of TEMPLATE_FILE, shifted by ``shifts`` pixels."""
    return _shifted(_templates()[1], np.asarray(shifts, int), 1.0)


def sky_template(shifts) -> np.ndarray:
    """Sky spectrum (n, 7214) of TEMPLATE_FILE over its 99th percentile, shifted by ``shifts`` pixels."""
    return _shifted(_templates()[0], np.asarray(shifts, int), 0.0)


# ----------------------------------------------------------------------------- effects
def veil(flux, continuum, r):
    """Add a featureless continuum excess ``r * continuum`` (veiling r per spectrum)."""
    return flux + np.asarray(r, np.float32)[:, None] * continuum


def spot_mix(f_amb, f_spot, filling):
    """Two-temperature surface: ``(1 - f) F_amb + f F_spot`` (surface fluxes, f per spectrum)."""
    f = np.asarray(filling, np.float32)[:, None]
    return (1.0 - f) * f_amb + f * f_spot


def spline_throughput(rng, n, sigma, knots: int = SPLINE_KNOTS) -> np.ndarray:
    """``exp(s)`` per chip, s a cubic spline through ``knots`` N(0, sigma) values: (n, 7214) float32."""
    from scipy.interpolate import CubicSpline
    parts = []
    for s in APSTAR_CHIP_SLICES:
        npx = s.stop - s.start
        xk = np.linspace(0.0, 1.0, knots)
        yk = rng.normal(0.0, sigma, size=(n, knots))
        parts.append(CubicSpline(xk, yk, axis=1, bc_type="natural")(np.linspace(0.0, 1.0, npx)))
    return np.exp(np.concatenate(parts, axis=1)).astype(np.float32)
