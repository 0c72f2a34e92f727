"""Model cards: the single source of truth for a model's input, outputs and provenance.

A card starts life as a *preset* (``zoo/cards/<name>.json``: paper, input
contract, outputs, recipe, data), is read by training to build inputs, and is
completed by export (metrics, artifact sha256, library versions) into
``exported/<name>/card.json``, which prediction reads.  Presets are data, not
code, so one JSON file is all that differs between models of a family.
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from .errors import TrustSpecError

__all__ = ["InputContract", "MissingPixels", "OutputSpec", "ModelCard", "TrustSpec", "TrustFit", "MISSING_DEFAULT",
           "EDGE_METHODS", "RESAMPLING_DEFAULT", "MEDIUM_CONVERSION_DEFAULT"]


class MissingPixels(str, Enum):
    """How the one fill stage of :func:`zoo.preprocess.to_contract` fills missing pixels.

    - ``interpolate``: interior gaps by linear interpolation between the nearest
      good pixels, leading/trailing runs (outside the observed range) with
      ``fill_value``;
    - ``constant``: every missing pixel gets ``fill_value``.
    """

    INTERPOLATE = "interpolate"
    CONSTANT = "constant"


#: missing-pixel rules per input array, and their defaults (see :class:`InputContract`)
MISSING_DEFAULT = {
    "flux_zero": True,            # flux exactly 0 marks a missing pixel
    "flux_nonfinite": "refuse",   # NaN/inf flux is refused unless masked (then missing)
    "mask": True,                 # mask=True marks a missing pixel
    "error_nonfinite": True,      # NaN/inf error marks a missing pixel
    "error_nonpositive": False,   # error <= 0 marks a missing pixel
    "error_at_least": None,       # error >= this marks a missing pixel (None: no rule)
}
#: the edge rules :func:`zoo.preprocess.mask_edges` knows
EDGE_METHODS = ("leading_trailing_runs",)
#: resampling onto the grid (see :class:`InputContract`)
RESAMPLING_DEFAULT = {
    "method": "linear",            # linear interpolation in wavelength of the valid samples
    "flux_conserving": False,      # values at the grid wavelengths, not flux integrated over pixels
    "mask": "bracketing",          # a grid pixel next to (or on) a missing sample, or outside, is missing
    "errors": "linear",            # errors interpolated like the flux
    "on_grid_rtol": 1e-6,          # input on the grid within rtol * wavelength_start is not resampled
}
#: the values :func:`zoo.preprocess.resample` implements
RESAMPLING_ALLOWED = {"method": ("linear",), "flux_conserving": (False,), "mask": ("bracketing",),
                      "errors": ("linear",)}
#: air <-> vacuum (Morton 2000, ApJS 130, 403, Eq. 3; vacuum -> air: the IAU standard form)
MEDIUM_CONVERSION_DEFAULT = {
    "air_to_vacuum": {"coefficients": [8.336624212083e-5, 2.408926869968e-2, 130.1065924522,
                                       1.599740894897e-4, 38.92568793293], "apply": "multiply"},
    "vacuum_to_air": {"coefficients": [0.0000834254, 0.02406147, 130.0, 0.00015998, 38.9],
                      "apply": "divide"},
}


def _complete(what: str, given: dict | None, default: dict) -> dict:
    unknown = set(given or {}) - set(default)
    if unknown:
        raise ValueError(f"{what} has unknown key(s) {sorted(unknown)}; known: {list(default)}")
    return {**default, **(given or {})}


@dataclass
class InputContract:
    """What a model's input vector is, machine-readable.

    Attributes
    ----------
    wavelength_start : float
        Wavelength of pixel 0 in Angstrom (for ``grid="log10"``: in Angstrom too;
        the grid is ``10**(log10(start) + step * i)``).
    step : float
        Pixel step: Angstrom for a linear grid, dex for a log10 grid.
    n_pixels : int
    grid : {"linear", "log10"}
    medium : {"air", "vacuum"}
    flux_normalization : str
        Name of the normalization (registered with
        :func:`zoo.preprocess.register_normalization`) applied before the model
        (``"rectified"``: the flux is already continuum-normalized).
    missing_pixels : MissingPixels
        How masked pixels and pixels outside the observed range are filled
        (after normalization, in exactly one stage).
    fill_value : float
        Value given to pixels outside the observed range (and, for
        ``constant``, to every missing pixel) after normalization.
    edge_guard : float
        Angstrom of observed flux next to a leading or trailing run of missing
        pixels that are treated as missing too (the ramp that smoothing a
        zero-padded spectrum leaves); 0: none.  Exactly how: ``edge_method``.
    edge_floor : float or None
        For rectified flux: leading/trailing pixels with ``|flux| < edge_floor``
        are missing (smeared padding pushed off the grid); None: no check.
    min_valid_fraction : float
        A spectrum with fewer valid (observed, unmasked) contract pixels than
        this fraction is refused (:class:`~zoo.errors.InsufficientDataError`).
    median_flux_range : [lo, hi]
        The median of the valid input flux (before normalization) must lie in
        this range (``hi`` None: no upper bound), else the flux is physically
        impossible for this contract (:class:`~zoo.errors.UnphysicalFluxError`).
    instrument_steps : dict
        ``{instrument: step}``: for a spectrum of that instrument (``Spectrum.meta
        ["instrument"]``, or ``instrument=`` for arrays), the step registered under
        that name (:func:`zoo.preprocess.register_native_step`) runs on the
        spectrum's own pixel grid before resampling (e.g. a blur to another
        instrument's resolution); other spectra skip it.
    missing : dict
        Which pixels of the input arrays are missing, one rule per array (:data:`MISSING_DEFAULT`
        holds the keys and their defaults): ``flux_zero`` (flux exactly 0 marks a missing
        pixel), ``flux_nonfinite`` (``"refuse"``: NaN/inf flux raises
        :class:`~zoo.errors.NonFiniteFluxError` unless ``mask`` is True there, where it is
        missing), ``mask`` (``mask=True`` marks missing), ``error_nonfinite``,
        ``error_nonpositive`` (error NaN/inf, error <= 0 mark missing), ``error_at_least``
        (error >= this marks missing; None: no such rule).  Applied to the arrays as given
        (a reader's documented ``flux``, ``error``, ``mask``), before anything else.
    edge_method : str
        How ``edge_guard`` and ``edge_floor`` act (:data:`EDGE_METHODS`);
        ``"leading_trailing_runs"``: on the spectrum's own pixels (after the instrument step
        and the medium conversion, before resampling), the leading run of pixels that are
        missing or have ``|flux| < edge_floor`` is missing, and so is the trailing run; when
        a leading (trailing) run exists, every pixel with wavelength below (above) the first
        (last) remaining valid pixel's wavelength plus (minus) ``edge_guard`` Angstrom is
        missing too (strictly inside the window, to a tolerance of ``1e-6 * edge_guard``).
    resampling : dict
        How a spectrum goes from its own pixels to the grid (:data:`RESAMPLING_DEFAULT`):
        ``method`` ``"linear"`` (linear interpolation in wavelength of the valid samples: values
        at the grid wavelengths, not flux-conserving, ``flux_conserving`` False), ``mask``
        ``"bracketing"`` (a grid pixel is missing when either input sample bracketing it is
        missing, when it falls on a missing sample, or when it lies outside the input range),
        ``errors`` ``"linear"`` (errors interpolated like the flux, not in quadrature),
        ``on_grid_rtol`` (input whose wavelengths equal the grid within this times
        ``wavelength_start`` is not resampled).
    coverage_tolerance : float
        The input must reach to within this many grid steps (the first step of the grid) of
        both grid ends (after the medium conversion), else
        :class:`~zoo.errors.WavelengthCoverageError`.
    medium_conversion : dict
        ``{"air_to_vacuum": rule, "vacuum_to_air": rule}`` used when the input's medium is
        not ``medium``; a rule is ``{"coefficients": [c0, c1, c2, c3, c4], "apply":
        "multiply" | "divide"}``: ``s = 1e4 / lambda_in``, ``n = 1 + c0 + c1 / (c2 - s^2) +
        c3 / (c4 - s^2)``, ``lambda_out = lambda_in * n`` (multiply) or ``lambda_in / n``
        (divide) (:data:`MEDIUM_CONVERSION_DEFAULT`: Morton 2000, ApJS 130, 403, Eq. 3).
    normalization_params : dict
        Parameters of ``flux_normalization`` (passed to the registered function as keyword
        arguments; ``{}``: the normalization has none).
    instrument_step_params : dict
        ``{step name: {parameter: value}}``: parameters of each step of ``instrument_steps``
        (passed to the registered step as keyword arguments).
    notes : str
        What the fields mean for this model, in words.
    """

    wavelength_start: float
    step: float
    n_pixels: int
    grid: str = "linear"
    medium: str = "air"
    flux_normalization: str = "rectified"
    missing_pixels: str = MissingPixels.INTERPOLATE.value
    fill_value: float = 1.0
    edge_guard: float = 0.0
    edge_floor: float | None = None
    min_valid_fraction: float = 0.5
    median_flux_range: list | None = None
    instrument_steps: dict = field(default_factory=dict)
    missing: dict = field(default_factory=lambda: dict(MISSING_DEFAULT))
    edge_method: str = "leading_trailing_runs"
    resampling: dict = field(default_factory=lambda: dict(RESAMPLING_DEFAULT))
    coverage_tolerance: float = 0.5
    medium_conversion: dict = field(default_factory=lambda: copy.deepcopy(MEDIUM_CONVERSION_DEFAULT))
    normalization_params: dict = field(default_factory=dict)
    instrument_step_params: dict = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self):
        try:
            self.missing_pixels = MissingPixels(self.missing_pixels).value
        except ValueError:
            raise ValueError(f"missing_pixels must be one of {[m.value for m in MissingPixels]}, "
                             f"not {self.missing_pixels!r}") from None
        # a card written before a key existed gets its default; an unknown key is an error
        self.missing = _complete("missing", self.missing, MISSING_DEFAULT)
        self.resampling = _complete("resampling", self.resampling, RESAMPLING_DEFAULT)
        if self.missing["flux_nonfinite"] not in ("refuse",):
            raise ValueError(f"missing.flux_nonfinite must be 'refuse', not {self.missing['flux_nonfinite']!r}")
        if self.edge_method not in EDGE_METHODS:
            raise ValueError(f"edge_method must be one of {list(EDGE_METHODS)}, not {self.edge_method!r}")
        for key, allowed in RESAMPLING_ALLOWED.items():
            if self.resampling[key] not in allowed:
                raise ValueError(f"resampling.{key} must be one of {list(allowed)}, not {self.resampling[key]!r}")
        conv = copy.deepcopy(MEDIUM_CONVERSION_DEFAULT)
        conv.update(self.medium_conversion or {})
        for key, rule in conv.items():
            if key not in MEDIUM_CONVERSION_DEFAULT:
                raise ValueError(f"medium_conversion has unknown key {key!r}; known: {list(MEDIUM_CONVERSION_DEFAULT)}")
            if len(rule.get("coefficients", ())) != 5 or rule.get("apply") not in ("multiply", "divide"):
                raise ValueError(f"medium_conversion.{key} needs 5 coefficients and apply 'multiply' or "
                                 f"'divide', got {rule!r}")
        self.medium_conversion = conv

    def wavelength(self) -> np.ndarray:
        """The model's pixel wavelengths in Angstrom."""
        i = np.arange(self.n_pixels, dtype=float)
        if self.grid == "linear":
            return self.wavelength_start + self.step * i
        if self.grid == "log10":
            return 10.0 ** (np.log10(self.wavelength_start) + self.step * i)
        raise ValueError(f"unknown grid {self.grid!r}")

    @property
    def wavelength_end(self) -> float:
        return float(self.wavelength()[-1])


@dataclass
class OutputSpec:
    """One named model output (a classifier head or a set of regressed labels).

    ``kind="class"``: ``classes`` are the class names in the order of the
    softmax units.  ``kind="regression"``: ``labels`` name the columns and
    ``units`` their units; ``mean``/``std`` (when set) undo the target
    standardization the model was trained with (y = mean + std * output).
    """

    name: str
    kind: str
    classes: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    mean: list[float] | None = None
    std: list[float] | None = None
    description: str = ""


@dataclass(frozen=True)
class TrustFit:
    """How a trust method's threshold (and its cuts) were set: the ``command`` that set them, the
    ``data`` they were set on (in words), the ``date`` (ISO, ``YYYY-MM-DD``); None where the card does
    not say.  ``extra``: the other keys of the card's ``fit`` block (e.g. ``seconds``)."""

    command: str | None = None
    data: str | None = None
    date: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict | None) -> "TrustFit":
        d = dict(d or {})
        return cls(command=d.pop("command", None), data=d.pop("data", None), date=d.pop("date", None),
                   extra=copy.deepcopy(d))

    def to_dict(self) -> dict:
        """The card's ``fit`` block: the three keys that are set, then ``extra``."""
        out = {k: v for k, v in (("command", self.command), ("data", self.data), ("date", self.date))
               if v is not None}
        return {**out, **copy.deepcopy(self.extra)}


#: keys of a trust block that :class:`TrustSpec` reads into its typed fields (everything else is ``extra``)
TRUST_TYPED_KEYS = ("method", "threshold", "description", "uncertainty", "fit", "false_flag_rate",
                    "false_flag_on", "flag_rates")


def _rate(v) -> float | None:
    """A rate given as a number or as ``{"k", "n", "rate", ...}``."""
    if isinstance(v, dict):
        v = v.get("rate")
    if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
        return None
    return float(v)


def _rates(block) -> dict[str, float]:
    if not isinstance(block, dict):
        return {}
    out = {str(k): _rate(v) for k, v in block.items()}
    return {k: v for k, v in out.items() if v is not None}


def _trust_views(d: dict) -> dict:
    """The typed fields :class:`TrustSpec` derives from a trust block that does not give them under
    their own keys (the blocks written before TrustSpec existed, kept as they are):

    - ``fit``: a ``refit`` block (:mod:`zoo.domain`: its command and table), else ``measured["command"]``
      (a script that sets the cuts and measures them; data: its set named ``validation ...``);
    - ``false_flag_rate`` / ``false_flag_on``: a ``refit`` block's held-out rate, else
      ``false_flag_rate_test``, ``test_false_flag_rate``, ``measured["false_flag_rate"]`` (``{set:
      rate}``: the set named ``test ...``, else the first), ``false_flag_rate_validation``, in this order;
    - ``flag_rates``: ``measured["hit_rate"]``, else ``measured["no_object"]``, else ``hit_rate``:
      ``{probe: rate}`` (a rate given as a number or as ``{"k", "n", "rate"}``)."""
    measured = d.get("measured") if isinstance(d.get("measured"), dict) else {}
    refit = d.get("refit") if isinstance(d.get("refit"), dict) else {}
    # fit
    if refit.get("command") or refit.get("table"):
        table = refit.get("table")
        data = None if not table else (f"{table} (sha256 {refit['table_sha256']})" if refit.get("table_sha256")
                                       else str(table))
        fit = TrustFit(command=refit.get("command") or None, data=data)
    elif measured.get("command"):
        sets = measured.get("false_flag_rate") if isinstance(measured.get("false_flag_rate"), dict) else {}
        val = [k for k in sets if str(k).startswith("validation")]
        fit = TrustFit(command=measured["command"], data=val[0] if val else None)
    else:
        fit = TrustFit()
    # false flags on in-domain data
    rate, on = None, None
    if _rate(refit.get("false_flag_rate_held_out")) is not None:
        n, table = refit.get("held_out_spectra"), refit.get("table")
        rate = _rate(refit["false_flag_rate_held_out"])
        on = "held-out spectra" + (f" ({n})" if n is not None else "") + (f" of {table}" if table else "")
    elif _rate(d.get("false_flag_rate_test")) is not None:
        rate = _rate(d["false_flag_rate_test"])
        sim = measured.get("simulated_test") if isinstance(measured.get("simulated_test"), dict) else {}
        on = f"simulated test spectra (seed {sim['seed']})" if "seed" in sim else "test"
    elif _rate(d.get("test_false_flag_rate")) is not None:
        rate, on = _rate(d["test_false_flag_rate"]), "test"
    elif _rates(measured.get("false_flag_rate")):
        sets = _rates(measured["false_flag_rate"])
        test = [k for k in sets if k.startswith("test")]
        on = test[0] if test else next(iter(sets))
        rate = sets[on]
    elif _rate(d.get("false_flag_rate_validation")) is not None:
        rate, on = _rate(d["false_flag_rate_validation"]), "validation"
    # true flags on out-of-domain probes
    flags = _rates(measured.get("hit_rate")) or _rates(measured.get("no_object")) or _rates(d.get("hit_rate"))
    return {"fit": fit, "false_flag_rate": rate, "false_flag_on": on, "flag_rates": flags}


@dataclass(frozen=True)
class TrustSpec:
    """The typed view of a card's ``trust`` block, the same fields for every family
    (:attr:`ModelCard.trust_spec`; the card's dict stays the source of truth).

    Attributes
    ----------
    method : str
        The out-of-domain method, a name registered with :func:`zoo.registry.register_trust`.
    threshold : float
        ``out_of_domain`` is ``domain_score > threshold``.
    description : str or None
        What the score is, in words.
    fit : TrustFit
        How the threshold (and the method's cuts) were set: command, data, date (None where the
        card does not say).
    false_flag_rate : float or None
        Share of in-domain spectra flagged (measured), and ``false_flag_on``: on which spectra.
    flag_rates : dict
        ``{probe: share flagged}`` measured on out-of-domain probes (true flags; may be empty).
    uncertainty_calibration : dict or None
        The card's ``trust["uncertainty"]`` (how ``<label>_std`` is calibrated), where there is one.
    extra : dict
        Every other key of the block, verbatim: the family's own settings (cuts, reference file) and
        the detailed measurements the typed fields summarize.

    :meth:`from_dict` reads each family's block as written (the typed keys of
    :data:`TRUST_TYPED_KEYS` where present, else the older per-family keys, :func:`_trust_views`);
    :meth:`to_dict` gives the block back (``TrustSpec.from_dict(d).to_dict() == d``).
    """

    method: str
    threshold: float
    description: str | None = None
    fit: TrustFit = field(default_factory=TrustFit)
    false_flag_rate: float | None = None
    false_flag_on: str | None = None
    flag_rates: dict[str, float] = field(default_factory=dict)
    uncertainty_calibration: dict | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "TrustSpec":
        if not isinstance(d, dict):
            raise TrustSpecError(f"a trust block is a dict, not {type(d).__name__}")
        method = d.get("method")
        if not isinstance(method, str) or not method:
            raise TrustSpecError(f"the trust block has no 'method' (a name registered with "
                                 f"zoo.registry.register_trust); its keys: {sorted(d)}")
        threshold = d.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
            raise TrustSpecError(f"the trust block of method {method!r} has no numeric 'threshold' "
                                 f"(got {threshold!r}); its keys: {sorted(d)}")
        d = copy.deepcopy(d)
        views = _trust_views(d)
        if "fit" in d:
            views["fit"] = TrustFit.from_dict(d["fit"] if isinstance(d["fit"], dict) else {"data": d["fit"]})
        if "false_flag_rate" in d:
            views["false_flag_rate"] = _rate(d["false_flag_rate"])
            views["false_flag_on"] = d.get("false_flag_on")
        if "flag_rates" in d:
            views["flag_rates"] = _rates(d["flag_rates"])
        return cls(method=method, threshold=float(threshold), description=d.get("description"),
                   uncertainty_calibration=d.get("uncertainty"), **views,
                   extra={k: v for k, v in d.items() if k not in TRUST_TYPED_KEYS})

    def to_dict(self) -> dict:
        """The card's trust block: ``method``, ``threshold``, ``description``, ``uncertainty``, the
        ``extra`` keys, and the typed keys (``fit``, ``false_flag_rate``/``false_flag_on``,
        ``flag_rates``) wherever ``extra`` does not already say the same thing in a family's own keys."""
        d: dict[str, Any] = {"method": self.method, "threshold": float(self.threshold)}
        if self.description is not None:
            d["description"] = self.description
        if self.uncertainty_calibration is not None:
            d["uncertainty"] = copy.deepcopy(self.uncertainty_calibration)
        d.update(copy.deepcopy(self.extra))
        implied = _trust_views(d)
        if self.fit != implied["fit"]:
            d["fit"] = self.fit.to_dict()
        if (self.false_flag_rate, self.false_flag_on) != (implied["false_flag_rate"], implied["false_flag_on"]):
            d["false_flag_rate"], d["false_flag_on"] = self.false_flag_rate, self.false_flag_on
        if self.flag_rates != implied["flag_rates"]:
            d["flag_rates"] = dict(self.flag_rates)
        return d


@dataclass
class ModelCard:
    name: str
    title: str
    paper: dict[str, Any]
    architecture: str
    input: InputContract
    outputs: list[OutputSpec]
    recipe: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: out-of-domain method: ``{"method": name registered with zoo.registry.register_trust,
    #: "threshold": float, "description": str, ...}`` (empty: the model has none yet); typed view:
    #: :attr:`trust_spec`
    trust: dict[str, Any] = field(default_factory=dict)

    # -- helpers -----------------------------------------------------------
    def output(self, name: str) -> OutputSpec:
        for out in self.outputs:
            if out.name == name:
                return out
        raise KeyError(f"{self.name} has no output {name!r}; outputs: {self.output_names}")

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    @property
    def labels(self) -> dict[str, list[str]]:
        """Class names per classifier head and label names per regression output."""
        return {o.name: list(o.classes if o.kind == "class" else o.labels) for o in self.outputs}

    @property
    def trust_spec(self) -> TrustSpec | None:
        """The ``trust`` block as a :class:`TrustSpec` (the same fields for every family); None when the
        card has none.  A block without ``method`` or a numeric ``threshold`` raises
        :class:`~zoo.errors.TrustSpecError`.  A view: changing it does not change the card."""
        return TrustSpec.from_dict(self.trust) if self.trust else None

    def replace(self, **changes) -> "ModelCard":
        new = copy.deepcopy(self)
        for k, v in changes.items():
            setattr(new, k, v)
        return new

    # -- (de)serialization -------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelCard":
        d = dict(d)
        d["input"] = InputContract(**d["input"])
        d["outputs"] = [OutputSpec(**o) for o in d["outputs"]]
        return cls(**d)

    def to_json(self, path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=2, sort_keys=False, default=_json_default)
            fh.write("\n")

    @classmethod
    def from_json(cls, path) -> "ModelCard":
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    def to_markdown(self) -> str:
        """The card as a Markdown page section (used by docs and ``zoo info``)."""
        c = self.input
        lines = [f"# {self.title} (`{self.name}`)", "",
                 f"**Paper:** {self.paper.get('citation', '')}", "",
                 f"**Architecture:** {self.architecture}", "",
                 "## Input contract", "",
                 f"- grid: {c.grid}, {c.n_pixels} pixels from {c.wavelength_start} A, step {c.step} "
                 f"({'A' if c.grid == 'linear' else 'dex'}), to {c.wavelength_end:.2f} A, {c.medium} wavelengths",
                 f"- flux normalization: {c.flux_normalization}",
                 f"- missing pixels: {c.missing_pixels} (fill {c.fill_value}); edge guard {c.edge_guard} A; "
                 f"at least {c.min_valid_fraction:.0%} valid pixels; median flux in {c.median_flux_range}",
                 "- a pixel is missing where: " + ", ".join(
                     k if v is True else f"{k}={v}" for k, v in c.missing.items() if v not in (False, None)),
                 f"- resampling: {c.resampling['method']} interpolation"
                 f"{'' if c.resampling['flux_conserving'] else ' (not flux-conserving)'}, mask {c.resampling['mask']}; "
                 f"edges: {c.edge_method}",
                 *([f"- {c.notes}"] if c.notes else []), "", "## Outputs", ""]
        for o in self.outputs:
            if o.kind == "class":
                lines.append(f"- `{o.name}` ({len(o.classes)} classes): {', '.join(o.classes)}")
            else:
                lines.append(f"- `{o.name}`: " + ", ".join(
                    f"{lab} [{unit}]" for lab, unit in zip(o.labels, o.units)))
        for title, section in (("Recipe", self.recipe), ("Data", self.data),
                               ("Metrics", self.metrics), ("Artifacts", self.artifacts),
                               ("Versions", self.versions)):
            if section:
                lines += ["", f"## {title}", "", "```json",
                          json.dumps(section, indent=2, default=_json_default), "```"]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj)}")



def card_path(directory) -> str:
    return os.path.join(os.fspath(directory), "card.json")
