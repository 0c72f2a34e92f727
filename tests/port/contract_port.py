"""An independent port of a zoo model's input contract: numpy + onnxruntime, no ``zoo``.

It reads only an exported model's ``card.json`` (its ``input`` and ``outputs`` blocks) and
``model.onnx``, and follows the algorithm of docs/deploy.md ("The input contract as an
algorithm") step by step, every number from a card field.  It is written from that page,
not from zoo/preprocess.py, so that tests/test_independent_port.py can show that the card
is enough to reproduce the zoo's answers.  Every card field it uses is required: a card
that lacks one fails here (``KeyError``) instead of silently falling back to a default.

Input: the arrays a zoo reader documents for a file (``zoo.io.read(path)``): wavelengths
in Angstrom, flux, 1-sigma error (or None), bad-pixel mask (True = bad, or None), the
medium ("air"/"vacuum") and the instrument name (``meta["instrument"]``, or None).

    model = load("exported/racnet_fgk")
    out = predict(model, wave, flux, error=err, mask=mask, medium="vacuum", instrument="lamost")
    # {"class": array(["K"]), "class_probability": ..., "raw": {"class": (1, 3) probabilities}}

A spectrum the contract refuses raises :class:`Refused` with ``kind`` one of
``nonfinite``, ``length``, ``wavelength``, ``coverage``, ``insufficient``, ``unphysical``,
``unsupported`` (a step this port does not implement).
"""
from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort

__all__ = ["Refused", "load", "grid", "prepare", "run", "decode", "predict"]


class Refused(Exception):
    """The contract refuses the spectrum (``kind`` says why)."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


# --------------------------------------------------------------------------- the model
def load(directory) -> dict:
    """``{"card": card.json, "session": onnxruntime session}`` of an exported model folder."""
    directory = os.fspath(directory)
    with open(os.path.join(directory, "card.json"), encoding="utf-8") as fh:
        card = json.load(fh)
    session = ort.InferenceSession(os.path.join(directory, "model.onnx"), providers=["CPUExecutionProvider"])
    return {"card": card, "session": session}


def grid(c: dict) -> np.ndarray:
    """Step G: the model's pixel wavelengths (Angstrom)."""
    i = np.arange(int(c["n_pixels"]), dtype=float)
    if c["grid"] == "linear":
        return float(c["wavelength_start"]) + float(c["step"]) * i
    if c["grid"] == "log10":
        return 10.0 ** (np.log10(float(c["wavelength_start"])) + float(c["step"]) * i)
    raise Refused("unsupported", f"grid {c['grid']!r}")


def _medium(wave, rule):
    c0, c1, c2, c3, c4 = (float(x) for x in rule["coefficients"])
    s2 = (1e4 / wave) ** 2
    n = 1 + c0 + c1 / (c2 - s2) + c3 / (c4 - s2)
    if rule["apply"] == "multiply":
        return wave * n
    if rule["apply"] == "divide":
        return wave / n
    raise Refused("unsupported", f"medium conversion apply {rule['apply']!r}")


def _coverage(wave, g, c):
    if wave[-1] < g[0] or wave[0] > g[-1]:
        raise Refused("coverage", f"{wave[0]:.2f}-{wave[-1]:.2f} A does not overlap {g[0]:.2f}-{g[-1]:.2f} A")
    tol = float(c["coverage_tolerance"]) * (g[1] - g[0])
    if wave[0] > g[0] + tol or wave[-1] < g[-1] - tol:
        raise Refused("coverage", f"{wave[0]:.2f}-{wave[-1]:.2f} A does not cover {g[0]:.2f}-{g[-1]:.2f} A")


# --------------------------------------------------------------------------- step 1: missing pixels
def _missing(flux, error, mask, rules):
    given = np.zeros(flux.shape, bool) if mask is None else np.asarray(mask, bool).copy()
    finite = np.isfinite(flux)
    if rules["flux_nonfinite"] != "refuse":
        raise Refused("unsupported", f"missing.flux_nonfinite {rules['flux_nonfinite']!r}")
    if (~finite & ~given).any():
        raise Refused("nonfinite", "NaN or inf flux outside the mask")
    missing = (given if rules["mask"] else np.zeros(flux.shape, bool)) | ~finite
    flux = np.where(finite, flux, 0.0)
    if rules["flux_zero"]:
        missing |= flux == 0.0
    if error is not None:
        with np.errstate(invalid="ignore"):
            bad_err = ~np.isfinite(error)
            if rules["error_nonfinite"]:
                missing |= bad_err
            if rules["error_nonpositive"]:
                missing |= error <= 0
            if rules["error_at_least"] is not None:
                missing |= error >= float(rules["error_at_least"])
        error = np.where(bad_err, 0.0, error)
    return flux, error, missing


# --------------------------------------------------------------------------- step 3: instrument steps
def _kernel(stddev, width_sigmas):
    width = int(np.ceil(width_sigmas * stddev))
    width += 1 - width % 2
    x = np.arange(width) - width // 2
    k = np.exp(-0.5 * (x / stddev) ** 2)
    return k / k.sum()


def _emission_ondrejov(wave, flux, error, missing, medium, p):
    if (p["blur_boundary"], p["masked_pixels"], p["error_scale"]) != ("extend", "interpolate_blur_remask", "kernel_l2"):
        raise Refused("unsupported", f"emission_ondrejov parameters {p}")
    if medium == "air":
        wave = _medium(wave, p["air_to_vacuum"])
    f = flux.copy()
    x = np.arange(f.size)
    if missing.any() and (~missing).sum() >= 2:
        f[missing] = np.interp(x[missing], x[~missing], f[~missing])
    k = _kernel(float(p["blur_stddev_px"]), float(p["blur_width_sigmas"]))
    h = k.size // 2
    padded = np.concatenate([np.full(h, f[0]), f, np.full(h, f[-1])])
    blurred = np.convolve(padded, k, mode="valid")
    flux = np.where(missing, 0.0, blurred)
    if error is not None:
        error = error * float(np.sqrt(np.sum(k ** 2)))
    return wave, flux, error, missing, "vacuum"


STEPS = {"emission_ondrejov": _emission_ondrejov}


# --------------------------------------------------------------------------- step 5: edges
def _edges(flux, missing, wave, c):
    if c["edge_method"] != "leading_trailing_runs":
        raise Refused("unsupported", f"edge_method {c['edge_method']!r}")
    guard, floor = float(c["edge_guard"]), c["edge_floor"]
    missing = missing.copy()
    if guard <= 0 and floor is None:
        return missing
    low = missing | (np.abs(flux) < float(floor)) if floor is not None else missing.copy()
    n = flux.size
    i = 0
    while i < n and low[i]:
        missing[i] = True
        i += 1
    j = n - 1
    while j >= 0 and low[j]:
        missing[j] = True
        j -= 1
    good = np.flatnonzero(~missing)
    if good.size == 0 or guard <= 0:
        return missing
    eps = 1e-6 * guard
    first, last = good[0], good[-1]
    if first > 0:
        missing |= (np.arange(n) >= first) & (wave < wave[first] + guard - eps)
    if last < n - 1:
        missing |= (np.arange(n) <= last) & (wave > wave[last] - guard + eps)
    return missing


# --------------------------------------------------------------------------- step 6: resampling
def _resample(values, missing, wave, g):
    good = ~missing
    out = np.interp(g, wave[good], values[good]) if good.sum() >= 2 else np.zeros(g.size)
    return out


def _resample_mask(missing, wave, g):
    return np.interp(g, wave, missing.astype(float), left=1.0, right=1.0) > 0


# --------------------------------------------------------------------------- step 8: normalizations
def _l2(flux, error, missing, p):
    good = np.where(missing, 0.0, flux)
    norm = np.sqrt(np.sum(good * good))
    if not norm > 0:
        return np.zeros_like(flux), np.ones_like(missing)
    return good / norm, missing


def _standardize(flux, error, missing, p):
    v = flux[~missing]
    cnt = max(v.size, 1)
    mean = v.sum() / cnt
    std = np.sqrt(np.sum((v - mean) ** 2) / cnt)
    if std < 10 * np.finfo(float).eps * max(abs(mean), 1.0):
        std = 1.0
    return (flux - mean) / std, missing


def _rectified(flux, error, missing, p):
    return flux, missing


def _wls(V, y, w, ridge):
    A = V.T @ (w[:, None] * V)
    b = V.T @ (w * y)
    k = V.shape[1]
    A = A + ridge * max(np.trace(A) / k, 1e-300) * np.eye(k)
    return np.linalg.solve(A, b)


def _robust_sigma(r):
    r = r[np.isfinite(r)]
    if r.size == 0:
        return np.inf
    s = 1.4826 * np.median(np.abs(r - np.median(r)))
    return s if np.isfinite(s) and s > 0 else np.inf


def _apogee_continuum(flux, error, missing, p):
    deg, n_iter = int(p["degree"]), int(p["n_iter"])
    cont_pix = np.zeros(flux.size, bool)
    cont_pix[np.asarray(p["continuum_pixels"], int)] = True
    bad = missing | ~np.isfinite(flux)
    if error is not None:
        with np.errstate(invalid="ignore"):
            bad |= ~np.isfinite(error) | (error <= 0)
    continuum = np.full(flux.size, np.nan)
    for a, b in p["chips"]:
        a, b = int(a), int(b)
        npx = b - a
        good = ~bad[a:b]
        f = np.where(good, flux[a:b], 0.0)
        x = np.linspace(-1.0, 1.0, npx)
        cidx = np.flatnonzero(cont_pix[a:b])
        V = np.stack([x[cidx] ** k for k in range(deg + 1)], axis=-1)
        lvl = np.median(f[good]) if good.any() else np.nan
        lvl = abs(lvl) if np.isfinite(lvl) and lvl != 0 else 1.0
        yc = f[cidx] / lvl
        gc = good[cidx]
        if error is not None:
            ec = np.where(gc, error[a:b][cidx], np.inf) / lvl
            w = np.where(gc, 1.0 / ec ** 2, 0.0)
            med = np.median(w[w > 0]) if (w > 0).any() else np.nan
            med = med if np.isfinite(med) and med > 0 else 1.0
            w = np.minimum(w / med, float(p["weight_cap"]))
        else:
            w = gc.astype(float)
        for it in range(n_iter + 1):
            coef = _wls(V, yc, w, float(p["ridge"]))
            if it == n_iter:
                break
            r = np.where(w > 0, yc - V @ coef, np.nan)
            sig = _robust_sigma(r)
            keep = np.abs(np.nan_to_num(r, nan=np.inf)) <= float(p["clip_sigma"]) * sig
            w = np.where(keep, w, 0.0)
        cont = (np.stack([x ** k for k in range(deg + 1)], axis=-1) @ coef) * lvl
        n_cont, n_good = int((w > 0).sum()), int(good.sum())
        if n_cont < int(p["min_cont_pixels"]) or n_good < int(p["min_chip_pixels"]):
            cont = np.full(npx, np.nan)
            if n_good >= int(p["min_chip_pixels"]):
                idx = np.flatnonzero(good)
                blocks = [q for q in np.array_split(idx, int(p["fallback_blocks"]))
                          if q.size >= int(p["fallback_min_block"])]
                if len(blocks) >= deg + 1:
                    xb = np.array([x[q].mean() for q in blocks])
                    yb = np.array([np.percentile(f[q], float(p["fallback_quantile"])) for q in blocks])
                    cont = np.polyval(np.polyfit(xb, yb, deg), x)
        continuum[a:b] = cont
    with np.errstate(invalid="ignore"):
        bad |= ~(continuum > 0)
    if p["normalized_tol"] is not None:
        dev = 0.0
        for a, b in p["chips"]:
            d = np.where(bad[a:b], 0.0, np.abs(continuum[a:b] - 1.0))
            dev = max(dev, float(d.max()))
        if dev < float(p["normalized_tol"]):
            continuum = np.ones_like(continuum)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(bad, np.nan, flux / continuum)
    if p["clip"] is not None:
        out = np.clip(out, float(p["clip"][0]), float(p["clip"][1]))
    return out.astype(np.float32).astype(float), missing | bad


NORMALIZATIONS = {"rectified": _rectified, "l2": _l2, "emission_standardize": _standardize,
                  "apogee_continuum": _apogee_continuum}


# --------------------------------------------------------------------------- step 9: fill
def _fill(flux, missing, c):
    fill = float(c["fill_value"])
    if c["missing_pixels"] == "constant":
        return np.where(missing, fill, flux)
    if c["missing_pixels"] != "interpolate":
        raise Refused("unsupported", f"missing_pixels {c['missing_pixels']!r}")
    if not missing.any():
        return flux
    flux = flux.copy()
    if missing.all():
        return np.full_like(flux, fill)
    x = np.arange(flux.size)
    flux[missing] = np.interp(x[missing], x[~missing], flux[~missing], left=fill, right=fill)
    return flux


# --------------------------------------------------------------------------- the algorithm
def prepare(c: dict, wave, flux, error=None, mask=None, medium=None, instrument=None) -> np.ndarray:
    """One spectrum -> the network's input vector (float32, ``n_pixels``), by the contract ``c``
    (a card's ``input`` block): docs/deploy.md steps 1-9."""
    wave = np.asarray(wave, float)
    flux = np.asarray(flux, float)
    error = None if error is None else np.asarray(error, float)
    medium = medium or c["medium"]
    g = grid(c)
    # 1. missing pixels of the arrays as given
    flux, error, missing = _missing(flux, error, mask, c["missing"])
    # 2. wavelengths: increasing, covering the grid
    if wave.size != flux.size:
        raise Refused("length", f"{wave.size} wavelengths for {flux.size} pixels")
    if np.any(np.diff(wave) <= 0):
        raise Refused("wavelength", "wavelengths do not increase")
    _coverage(wave, g, c)
    # 3. instrument step on the spectrum's own pixels
    step = (c["instrument_steps"] or {}).get(instrument) if instrument else None
    if step:
        if step not in STEPS:
            raise Refused("unsupported", f"instrument step {step!r}")
        wave, flux, error, missing, medium = STEPS[step](wave, flux, error, missing, medium,
                                                         c["instrument_step_params"][step])
    # 4. medium
    if medium != c["medium"]:
        rule = c["medium_conversion"]["air_to_vacuum" if c["medium"] == "vacuum" else "vacuum_to_air"]
        wave = _medium(wave, rule)
        _coverage(wave, g, c)
    # 5. edges
    missing = _edges(flux, missing, wave, c)
    # 6. resampling
    rs = c["resampling"]
    if (rs["method"], rs["flux_conserving"], rs["mask"], rs["errors"]) != ("linear", False, "bracketing", "linear"):
        raise Refused("unsupported", f"resampling {rs}")
    on_grid = wave.size == g.size and np.allclose(wave, g, rtol=0, atol=float(rs["on_grid_rtol"]) * g[0])
    if not on_grid:
        if error is not None:
            error = _resample(error, missing, wave, g)
        flux = _resample(flux, missing, wave, g)
        missing = _resample_mask(missing, wave, g)
    # 7. validity
    valid = float((~missing).mean())
    if valid < float(c["min_valid_fraction"]):
        raise Refused("insufficient", f"{valid:.0%} valid pixels")
    if c["median_flux_range"] is not None:
        lo, hi = c["median_flux_range"]
        med = float(np.median(flux[~missing]))
        if med < lo or (hi is not None and med > hi):
            raise Refused("unphysical", f"median flux {med:.4g} outside [{lo}, {hi}]")
    # 8. normalization
    name = c["flux_normalization"]
    if name not in NORMALIZATIONS:
        raise Refused("unsupported", f"normalization {name!r}")
    flux, missing = NORMALIZATIONS[name](flux, error, missing, c["normalization_params"])
    # 9. fill
    return _fill(np.asarray(flux, float), missing, c).astype(np.float32)


def run(model: dict, x: np.ndarray) -> dict:
    """Raw network outputs by name for ``x`` (n, n_pixels) on the contract."""
    names = [o["name"] for o in model["card"]["outputs"]]
    inp = model["session"].get_inputs()[0].name
    return dict(zip(names, model["session"].run(names, {inp: np.asarray(x, np.float32)})))


def decode(outputs: list, raw: dict) -> dict:
    """Class names and the chosen class's probability per classifier head; labels in the
    card's units per regression output (``mean + std * y``)."""
    out = {}
    for o in outputs:
        v = np.asarray(raw[o["name"]], float)
        if o["kind"] == "class":
            best = np.argmax(v, axis=-1)
            out[o["name"]] = np.asarray(o["classes"])[best]
            out[o["name"] + "_probability"] = v[np.arange(v.shape[0]), best]
        else:
            if o.get("mean") is not None:
                v = np.asarray(o["mean"]) + np.asarray(o["std"]) * v
            for j, lab in enumerate(o["labels"]):
                out[lab] = v[:, j]
    return out


def predict(model: dict, wave, flux, error=None, mask=None, medium=None, instrument=None) -> dict:
    """One spectrum through the contract, ONNX Runtime and the decoding; ``raw``: the outputs."""
    x = prepare(model["card"]["input"], wave, flux, error, mask, medium, instrument)[None, :]
    raw = run(model, x)
    return {**decode(model["card"]["outputs"], raw), "raw": raw, "input": x}
