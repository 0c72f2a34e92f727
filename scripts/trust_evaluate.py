"""Trust of the exported MK and APOGEE models: out-of-domain flags, calibrated uncertainties,
AutoClassMK robustness.  Regenerates every number and figure of docs/trust.md.

    python scripts/trust_evaluate.py              # calibrate, measure, write docs/results/trust_mk_apogee.json
    python -m evaluation.render                   # and the figures into docs/trust.md (~10 min, 2 cores)
    python scripts/trust_evaluate.py --no-write   # measure and print only

What it does (docs/trust.md explains why):

AutoClassMK (``autoclassmk``, ``autoclassmk_broad``; method ``mk_standard_fit``,
:mod:`zoo.families.autoclassmk.trust`)
  1. validation: libr18 (the training atlas) augmented with each model's own
     recipe, seed 11, 10 per standard; each spectrum is fitted *without its own
     star* among the standards (leave-one-star-out);  cuts: the 99th percentile of
     the residual rms and the 0.5th/99.5th percentiles of the line amplitude, pooled
     over both models (they share the preset);
  2. false flags on the card's test set (libr18_27, paper perturbations, seed 2, 30
     per standard, 2940 spectra), hits on the known-outside inputs of
     ``scripts/trust_inputs.py``;
  3. robustness: accuracy and flag rate against resolution, S/N and continuum tilt.

APOGEE Net, StarNet (method ``payne_consistency``, :mod:`zoo.families.apogeenet.trust`)
  1. simulated sets (``simulate_apogee``): validation seed 4001 (600), test seed 4002
     (600), harder set seed 4003 (300, S/N 8-500 as the training's uncertainty
     check), seeds no training run uses;
  2. cuts from validation: 99th percentile of chi2, 0.5th/99.5th of the line
     amplitude; false flags on test and the harder set, hits on known-outside inputs;
  3. uncertainties: 30 noise realizations per spectrum (Olney et al. 2020 Sec. 3.5),
     sigma_total = sqrt((noise_scale sigma_noise)^2 + sigma_model^2) with the two
     per-label numbers fitted on validation to 68.3 % / 95.4 % coverage; coverage
     measured on test and the harder set.

Writes ``docs/results/trust_mk_apogee.json`` (every number, with command, code version, duration and
load; ``evaluation/trust.py`` renders the blocks of docs/trust.md from it) and docs/img/trust_*.png.
It never writes an exported card: it compares the cuts it calibrates with the cards' (a card's trust
block is what its training run exported from the preset) and says where they differ;
``--write-presets`` puts them into the presets for the next training run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrix products: threads only contend

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, REPO)

import trust_inputs as TI  # noqa: E402
from training.common import binom_ci  # noqa: E402

RESULTS = os.path.join(REPO, "docs", "results", "trust_mk_apogee.json")
IMG = os.path.join(REPO, "docs", "img")
MK_MODELS = ("autoclassmk", "autoclassmk_broad")
AP_MODELS = ("apogeenet", "starnet")
LABELS = ("teff", "logg", "feh")
UNITS = {"teff": "K", "logg": "dex", "feh": "dex"}

MK_VAL_SEED, MK_VAL_VARIANTS = 11, 10
MK_ROBUST_SEED, MK_ROBUST_VARIANTS = 13, 5
MK_RMS_Q, MK_AMP_Q, MK_TILT_Q = 99.0, (0.5, 99.5), 99.0
MK_METHOD = {"smooth_px": 2.0, "broadening_px": [0.0, 1.5, 3.0, 4.5], "neighbours": 1}

AP_SETS = {"validation": dict(n=600, seed=4001), "test": dict(n=600, seed=4002),
           "harder": dict(n=300, seed=4003, snr_median=60.0, snr_sigma=0.9, snr_range=(8.0, 500.0))}
AP_REALIZATIONS = 30
SNR_BINS = ((8, 30), (30, 60), (60, 120), (120, 500))
OUTSIDE_SCALE = 12          # known-outside sample sizes: 5 * scale per kind (scripts/trust_inputs.py)
TEST_VARIANTS = None        # None: the recipe's 30 per libr18_27 standard
AP_CHI2_Q, AP_AMP_Q = 99.0, (0.5, 99.5)
AP_METHOD = {"trim": 0.01, "bounds_scale": 0.05, "label_bounds": {"teff": [3530.0, 6800.0], "logg": [0.5, 5.2], "feh": [-0.95, 0.45]}}
AP_MISMATCH_SEED, AP_MISMATCH_N = 4000, 300
#: The wavelength (A) at which a resolving power R = lambda / FWHM is stated for the MK spectra.
R_WAVELENGTH = 4200.0
#: Resolving powers (at R_WAVELENGTH) of the bundled atlases: libr18 1.8 A, libr18_27 2.7 A FWHM.
R_LIBR18, R_LIBR18_27 = R_WAVELENGTH / 1.8, R_WAVELENGTH / 2.7
#: A "confident" class probability: the fraction of each input kind with p above this is reported.
PROB_CONFIDENT = 0.9
#: The calibrated uncertainties' coverage targets: (k, share of |error| within k sigma), the Gaussian shares.
COVERAGE_TARGETS = ((1, 0.6827), (2, 0.9545))


def log(*a):
    print(*a, flush=True)


def rate(flags) -> dict:
    flags = np.asarray(flags, bool)
    k, n = int(flags.sum()), int(flags.size)
    return {"k": k, "n": n, "rate": round(k / n, 4) if n else None, "ci95": binom_ci(k, n)}


def fmt_rate(r: dict) -> str:
    if not r["n"]:
        return "-"
    return f"{r['k']}/{r['n']} = {100 * r['rate']:.1f} % [{100 * r['ci95'][0]:.1f}, {100 * r['ci95'][1]:.1f}]"


def onnx(name):
    from zoo.predictor import Predictor, exported_dir
    return Predictor(exported_dir(name), backend="onnx")


def prepare_rows(p, flux, error=None, **kw):
    """Prepare row by row where the batch is refused: ``(Prepared of accepted rows, accepted bool)``."""
    from zoo.errors import SpectrumError
    from zoo.preprocess import Prepared
    try:
        return p.prepare(flux, error=error, **kw), np.ones(len(flux), bool)
    except SpectrumError:
        parts, ok = [], []
        for i in range(len(flux)):
            try:
                parts.append(p.prepare(flux[i:i + 1], error=None if error is None else error[i:i + 1], **kw))
                ok.append(True)
            except SpectrumError:
                ok.append(False)
        ok = np.array(ok)
        if not parts:
            n = p.card.input.n_pixels
            return Prepared(np.zeros((0, n), np.float32), None, np.zeros((0, n), bool)), ok
        err = None if any(q.error is None for q in parts) else np.concatenate([q.error for q in parts])
        return Prepared(np.concatenate([q.flux for q in parts]), err,
                        np.concatenate([q.mask for q in parts])), ok


# =============================================================================== MK
class MK:
    def __init__(self):
        from zoo.registry import load_preset
        from zoo.families.autoclassmk import trust as T
        from zoo.families.autoclassmk.atlas import load_atlas, prune_complete
        self.T = T
        self.card = load_preset("autoclassmk")
        self.wave = self.card.input.wavelength()
        self.classes = np.array(self.card.output("spectral_class").classes)
        self.lclasses = np.array(self.card.output("luminosity_class").classes)
        self.train = prune_complete(load_atlas("libr18"))
        test = load_atlas("libr18_27")
        self.test = test.subset(np.isin(test.spectral_type, self.classes))
        std = T.standards(MK_METHOD["smooth_px"], tuple(MK_METHOD["broadening_px"]))
        assert list(std[2]) == list(self.train.files), "standards and libr18 differ"
        self.pred = {m: onnx(m) for m in MK_MODELS}

    def fit(self, prep, sc, exclude=None):
        return self.T.standard_fit(prep.flux, prep.mask, self.classes[sc], exclude=exclude,
                                   class_order=list(self.classes), **{k: (tuple(v) if isinstance(v, list) else v)
                                                                      for k, v in MK_METHOD.items()})

    def run(self, model, flux, exclude=None, **kw):
        p = self.pred[model]
        prep, ok = prepare_rows(p, flux, **kw)
        raw = p.forward(prep.flux, 1024) if len(prep.flux) else {"spectral_class": np.zeros((0, 35)),
                                                                    "luminosity_class": np.zeros((0, 3))}
        sc = raw["spectral_class"].argmax(-1)
        lc = raw["luminosity_class"].argmax(-1)
        fit = self.fit(prep, sc, exclude)
        return {"ok": ok, "sc": sc, "lc": lc, "p": raw["spectral_class"].max(-1) if len(sc) else np.zeros(0),
                "fit": fit}

    def augment(self, atlas, n, seed, config):
        from zoo.families.autoclassmk.augment import augment_dataset
        return augment_dataset(atlas.flux, {}, self.wave, n, seed, config, atlas.mask, 1.0)

    def index(self, names, arr):
        return np.array([list(arr).index(t) for t in names])

    # ------------------------------------------------------------------ calibration
    def calibrate(self):
        from zoo.families.autoclassmk.augment import AugmentConfig
        from zoo.registry import get_entry
        self.val, rms, amp, tilt = {}, [], [], []
        for m in MK_MODELS:
            cfg = AugmentConfig(**get_entry(m).recipe.augmentation())
            x, _, src = self.augment(self.train, MK_VAL_VARIANTS, MK_VAL_SEED, cfg)
            r = self.run(m, x, exclude=src)
            r["sc_true"] = self.index(self.train.spectral_type[src], self.classes)
            self.val[m] = r
            # the same without the neighbouring classes (why the method takes them)
            p = self.pred[m]
            prep = p.prepare(x)
            alone = self.T.standard_fit(prep.flux, prep.mask, self.classes[r["sc"]], exclude=src,
                                        smooth_px=MK_METHOD["smooth_px"], broadening_px=tuple(MK_METHOD["broadening_px"]),
                                        class_order=list(self.classes), neighbours=0)
            self.ablation = getattr(self, "ablation", {})
            self.ablation[m] = {"rms_p99_neighbours_0": round(float(np.nanpercentile(alone["rms"], 99)), 4),
                                "rms_p99_neighbours_1": round(float(np.percentile(r["fit"]["rms"], 99)), 4)}
            rms.append(r["fit"]["rms"])
            amp.append(r["fit"]["a"])
            tilt.append(np.abs(r["fit"]["c1"] / r["fit"]["c0"]))
        rms, amp, tilt = np.concatenate(rms), np.concatenate(amp), np.concatenate(tilt)
        self.trust = {"method": self.T.METHOD, "threshold": 1.0, **MK_METHOD,
                      "rms_cut": round(float(np.percentile(rms, MK_RMS_Q)), 5),
                      "amp_range": [round(float(np.percentile(amp, q)), 4) for q in MK_AMP_Q],
                      "tilt_cut": round(float(np.percentile(tilt, MK_TILT_Q)), 4)}
        log(f"MK cuts (pooled validation, {rms.size} spectra): rms_cut {self.trust['rms_cut']}, "
            f"amp_range {self.trust['amp_range']}, tilt_cut {self.trust['tilt_cut']}")

    def flags(self, r):
        return self.T.score_from_fit(r["fit"], self.trust) > self.trust["threshold"]

    # ------------------------------------------------------------------ rates
    def measure(self):
        from zoo.families.autoclassmk.augment import AugmentConfig
        from zoo.registry import get_entry
        paper = AugmentConfig(**get_entry("autoclassmk").recipe.augmentation())
        rec = get_entry("autoclassmk").recipe
        xt, _, srct = self.augment(self.test, TEST_VARIANTS or rec.test_variants, rec.seed + 2, paper)
        sc_true = self.index(self.test.spectral_type[srct], self.classes)
        lc_true = self.index(self.test.luminosity_class[srct], self.lclasses)
        outside = TI.mk_outside(scale=OUTSIDE_SCALE, seed=0)
        self.outside_what = {k: v["what"] for k, v in outside.items()}
        res = {}
        self.outside_scores = {}
        for m in MK_MODELS:
            v = self.val[m]
            t = self.run(m, xt)
            ft = self.flags(t)
            correct = t["sc"] == sc_true
            near = np.abs(t["sc"] - sc_true) <= 1
            comp = self.T.components(t["fit"], self.trust)
            files = np.array(self.test.files)[srct]
            flagged_stars = {}
            for f in np.unique(files[ft]):
                sel = ft & (files == f)
                which = max(comp, key=lambda c: int(np.sum(comp[c][sel] > 1.0)))
                flagged_stars[str(f)] = (f"{int(sel.sum())}/{int((files == f).sum())} copies, "
                                         f"{self.test.spectral_type[self.test.files.index(f)]} "
                                         f"{self.test.luminosity_type[self.test.files.index(f)]}, mostly by {which}")
            out = {"validation": rate(self.flags(v)), "test": rate(ft)}
            hits, probs = {}, {}
            self.outside_scores.setdefault(m, {})
            for kind, d in outside.items():
                r = self.run(m, d["flux"])
                f = np.ones(len(d["flux"]), bool)          # refused by the contract: never answered
                sc = self.T.score_from_fit(r["fit"], self.trust)
                f[r["ok"]] = sc > self.trust["threshold"]
                self.outside_scores[m][kind] = sc
                pred = np.unique(self.classes[r["sc"]], return_counts=True)
                hits[kind] = {**rate(f), "refused": int((~r["ok"]).sum()),
                              "predicted": {str(c): int(n) for c, n in zip(*pred)},
                              "median_probability": round(float(np.median(r["p"])), 3) if len(r["p"]) else None}
                probs[kind] = r["p"]
            res[m] = {"false_flags": out, "hits": hits,
                      "test_detail": {"accuracy": round(float(correct.mean()), 4),
                                      "accuracy_unflagged": round(float(correct[~ft].mean()), 4),
                                      "accuracy_flagged": round(float(correct[ft].mean()), 4) if ft.any() else None,
                                      "within_1_unflagged": round(float(near[~ft].mean()), 4),
                                      "within_1_flagged": round(float(near[ft].mean()), 4) if ft.any() else None,
                                      "lc_accuracy": round(float(np.mean(t["lc"] == lc_true)), 4),
                                      "flagged_standards": flagged_stars},
                      "probability": {"test (libr18_27)": round(float(np.mean(t["p"] > PROB_CONFIDENT)), 3),
                                      **{k: round(float(np.mean(p > PROB_CONFIDENT)), 3) for k, p in probs.items()
                                         if len(p)}},
                      "scores": {"validation": self.T.score_from_fit(v["fit"], self.trust),
                                 "test": self.T.score_from_fit(t["fit"], self.trust)}}
            # real LAMOST stars rectified by our continuum fit: in the classifier's domain, for information
            lf, names, sub = TI.lamost_on_mk_grid(TI.lamost_files(True))
            star = np.array([s.startswith("STAR") and len(s.split()) > 1 for s in sub])
            r = self.run(m, TI.rectify(lf[star]))
            sc = self.T.score_from_fit(r["fit"], self.trust)
            rows, k = [], 0
            for nm, s, ok in zip(np.array(names)[star], np.array(sub)[star], r["ok"]):
                row = {"file": nm, "lamost": s.split()[1]}
                if ok:
                    row.update(predicted=f"{self.classes[r['sc'][k]]} {self.lclasses[r['lc'][k]]}",
                               probability=round(float(r["p"][k]), 3), domain_score=round(float(sc[k]), 2),
                               flagged=bool(sc[k] > 1.0))
                    k += 1
                else:
                    row.update(predicted="refused", flagged=True)
                rows.append(row)
            res[m]["lamost_rectified"] = {**rate([r_["flagged"] for r_ in rows]), "rows": rows}
            log(f"{m}: false flags: validation {fmt_rate(out['validation'])}, test {fmt_rate(out['test'])}")
        self.results = res
        return res

    # ------------------------------------------------------------------ robustness
    def robustness(self):
        from zoo.families.autoclassmk.augment import AugmentConfig, augment
        from zoo.registry import get_entry
        from zoo.preprocess import fill_missing
        paper = get_entry("autoclassmk").recipe.augmentation()
        quiet = AugmentConfig(**{**paper, "gain": 0.0})         # paper perturbations without the noise
        rng = np.random.default_rng(MK_ROBUST_SEED)
        grids = {"resolution": [3000, 2500, 2000, 1750, 1500, 1250, 1000],
                 "snr": [200, 150, 100, 70, 50, 30, 20],
                 "tilt": [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3]}
        bases = {"libr18_27": self.test, "libr18": self.train}
        u = np.linspace(-1.0, 1.0, self.wave.size)
        curves = {}
        for base_name, atlas in bases.items():
            src = np.repeat(np.arange(len(atlas)), MK_ROBUST_VARIANTS)
            filled = fill_missing(atlas.flux, atlas.mask, 1.0)[src]
            clean = augment(filled, self.wave, rng, quiet)
            sc_true = self.index(atlas.spectral_type[src], self.classes)
            lc_true = self.index(atlas.luminosity_class[src], self.lclasses)
            native = R_LIBR18_27 if base_name == "libr18_27" else R_LIBR18
            for what, values in grids.items():
                if base_name == "libr18" and what != "resolution":
                    continue
                for val in values:
                    x = clean.copy()
                    snr = 70.7
                    if what == "resolution":
                        sig_t = R_WAVELENGTH / (val * 2.3548) / 0.5
                        sig_n = R_WAVELENGTH / (native * 2.3548) / 0.5
                        if sig_t > sig_n:
                            x = self.T.gaussian_smooth(x, float(np.sqrt(sig_t ** 2 - sig_n ** 2)))
                    elif what == "snr":
                        snr = float(val)
                    else:
                        sign = rng.choice([-1.0, 1.0], (len(x), 1))
                        x = x * (1.0 + sign * val * u)
                    x = x + np.sqrt(np.clip(x, 0, None)) / snr * rng.standard_normal(x.shape)
                    for m in MK_MODELS:
                        r = self.run(m, x)
                        f = self.flags(r)
                        acc = r["sc"] == sc_true[r["ok"]]
                        curves.setdefault(m, {}).setdefault(base_name, {}).setdefault(what, []).append({
                            "value": val, "effective": float(min(val, native)) if what == "resolution" else val,
                            "n": int(r["ok"].sum()),
                            "sc_accuracy": round(float(acc.mean()), 4),
                            "sc_within_1": round(float(np.mean(np.abs(r["sc"] - sc_true[r["ok"]]) <= 1)), 4),
                            "lc_accuracy": round(float(np.mean(r["lc"] == lc_true[r["ok"]])), 4),
                            "flag_rate": round(float(f.mean()), 4),
                            "sc_accuracy_unflagged": round(float(acc[~f].mean()), 4) if (~f).any() else None})
        self.curves = curves
        return curves

    def plot(self):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), sharey="row")
        titles = {"resolution": f"resolving power R (at {R_WAVELENGTH:g} A)", "snr": "S/N (continuum)",
                  "tilt": "continuum tilt t: flux x (1 + t u), u in [-1, 1]"}
        colors = {"autoclassmk": "C0", "autoclassmk_broad": "C1"}
        for j, what in enumerate(("resolution", "snr", "tilt")):
            for m in MK_MODELS:
                for base, ls in (("libr18_27", "-"), ("libr18", ":")):
                    pts = self.curves[m].get(base, {}).get(what)
                    if not pts:
                        continue
                    xv = [p["value"] for p in pts]
                    lab = f"{m}, {base}" + (" (training stars)" if base == "libr18" else "")
                    axes[0, j].plot(xv, [p["sc_accuracy"] for p in pts], ls, marker="o", ms=3, color=colors[m],
                                    label=f"{lab}: spectral class")
                    if base == "libr18_27":
                        axes[0, j].plot(xv, [p["sc_within_1"] for p in pts], "--", marker="^", ms=3,
                                        color=colors[m], alpha=0.6, label=f"{lab}: within 1 subclass")
                        axes[0, j].plot(xv, [p["lc_accuracy"] for p in pts], "-.", marker="s", ms=3,
                                        color=colors[m], alpha=0.4, label=f"{lab}: luminosity class")
                    axes[1, j].plot(xv, [p["flag_rate"] for p in pts], ls, marker="o", ms=3, color=colors[m],
                                    label=lab)
            axes[1, j].set_xlabel(titles[what])
            if what == "resolution":
                for ax in axes[:, j]:
                    ax.axvline(R_LIBR18_27, color="0.6", lw=0.8)
                    ax.axvline(R_LIBR18, color="0.8", lw=0.8)
                axes[0, j].text(R_LIBR18_27, 0.02, " libr18_27", fontsize=7, color="0.4")
                axes[0, j].text(R_LIBR18, 0.02, " libr18", fontsize=7, color="0.4")
            if what == "snr":
                from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter
                for ax in axes[:, j]:
                    ax.set_xscale("log")
                    ax.axvline(70.7, color="0.6", lw=0.8)
                    ax.xaxis.set_major_locator(FixedLocator(grids_snr := [20, 30, 50, 70, 100, 150, 200]))
                    ax.xaxis.set_major_formatter(ScalarFormatter())
                    ax.xaxis.set_minor_locator(NullLocator())
                    ax.set_xlim(grids_snr[0] * 0.9, grids_snr[-1] * 1.1)
            if what == "tilt":
                for ax in axes[:, j]:
                    ax.axvline(5e-3, color="0.6", lw=0.8)
        axes[0, 0].set_ylabel("accuracy")
        axes[1, 0].set_ylabel("out_of_domain rate")
        axes[0, 0].set_ylim(0, 1.02)
        axes[1, 0].set_ylim(-0.02, 1.02)
        axes[0, 2].legend(fontsize=6, loc="lower left")
        axes[1, 2].legend(fontsize=7, loc="upper left")
        fig.suptitle("AutoClassMK robustness: each point 5 perturbed copies of every standard (paper perturbations; "
                     "grey lines: the atlases' R, the paper's S/N 70.7 and tilt sigma 0.005)", fontsize=9)
        fig.tight_layout()
        path = os.path.join(IMG, "trust_mk_robustness.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)

        plot_scores({m: {"validation (libr18, own star left out)": self.results[m]["scores"]["validation"],
                         "test (libr18_27)": self.results[m]["scores"]["test"]} for m in MK_MODELS},
                    self.outside_scores, np.logspace(-1.3, 1.6, 60), "trust_mk_scores.png")


# =============================================================================== APOGEE
class Apogee:
    def __init__(self):
        from zoo.families.apogeenet import trust as T
        self.T = T
        self.pred = {m: onnx(m) for m in AP_MODELS}

    def simulate(self):
        from zoo.families.apogeenet.simulate import simulate_apogee
        self.sets = {}
        for name, kw in AP_SETS.items():
            kw = dict(kw)
            n, seed = kw.pop("n"), kw.pop("seed")
            self.sets[name] = simulate_apogee(n, seed=seed, **kw)

    def consistency(self, m, prep, labels):
        return self.T.consistency(prep.flux, prep.error, prep.mask, labels, systematic=self.systematic,
                                  trim=AP_METHOD["trim"])

    def mismatch(self):
        """rms difference between the data-driven (APOGEE-dwarf) and the Kurucz emulator, normalized
        alike, at labels of simulated warm dwarfs: the systematic floor of the chi-square."""
        from zoo.families.apogeenet.continuum import fit_continuum
        from zoo.families.apogeenet.simulate import PayneEmulator
        from zoo.families.apogeenet.apstar import aspcap_pixel_mask
        rng = np.random.default_rng(AP_MISMATCH_SEED)
        n = AP_MISMATCH_N
        dw, kur = PayneEmulator("apogee_dwarf"), PayneEmulator("kurucz")
        lab = np.column_stack([rng.uniform(4300.0, 6800.0, n), rng.uniform(4.0, 4.9, n),
                               rng.uniform(-0.8, 0.4, n)])
        model = self.T.emulator_model(lab)
        fk = kur.flux(np.clip(np.column_stack([lab, self.T.alpha_fe(lab[:, 2])]), kur.x_min, kur.x_max))
        fk = fk / fk.mean(axis=1, keepdims=True)
        kg, gaps = PayneEmulator.on_apstar_grid(fk.astype(float))
        cont, _ = fit_continuum(kg, mask=np.broadcast_to(gaps, kg.shape))
        lab5 = np.column_stack([lab, self.T.alpha_fe(lab[:, 2]), np.clip(rng.normal(6.0, 1.5, n), 2.0, 12.0)])
        fd = dw.flux(np.clip(lab5, dw.x_min, dw.x_max)) * cont[:, ~gaps]
        data = self.T._normalize_model(fd)
        d = (data - model)[:, aspcap_pixel_mask()]
        per_star = np.sqrt(np.nanmean(d ** 2, axis=1))
        self.mismatch_stats = {"n": n, "rms_all_pixels": round(float(np.sqrt(np.nanmean(d ** 2))), 4),
                               "per_star_p10_p50_p90": [round(float(v), 4) for v in np.percentile(per_star, [10, 50, 90])]}
        self.systematic = round(float(np.sqrt(np.nanmean(d ** 2))), 3)
        log(f"APOGEE: data-driven vs Kurucz emulator mismatch {self.mismatch_stats}: systematic {self.systematic}")

    def single(self, m, flux, error=None, mask=None):
        p = self.pred[m]
        prep, ok = prepare_rows(p, flux, error=error, mask=mask)
        raw = p.forward(prep.flux, 128) if len(prep.flux) else {"labels": np.zeros((0, 3))}
        labels = self.T._labels_from_raw(p, raw)
        return {"ok": ok, "labels": labels, "cons": self.consistency(m, prep, labels)}

    def score(self, m, r):
        return self.T.score_from(r["cons"], r["labels"], self.trust[m])

    def run(self):
        self.mismatch()
        self.simulate()
        self.trust, self.results, self.unc = {}, {}, {}
        outside = TI.apogee_outside(scale=OUTSIDE_SCALE, seed=0)
        self.outside_what = {k: v["what"] for k, v in outside.items()}
        from zoo.io import read
        import glob
        real_files = sorted(glob.glob(os.path.join(REPO, "zoo", "families", "apogeenet", "data", "apogee", "apStar-*.fits")))
        for m in AP_MODELS:
            t0 = time.time()
            S = {k: self.single(m, s.flux, s.error, s.mask) for k, s in self.sets.items()}
            v = S["validation"]
            tr = {"method": self.T.METHOD, "threshold": 1.0, "systematic": self.systematic, **AP_METHOD,
                  "chi2_cut": round(float(np.percentile(v["cons"]["chi2"], AP_CHI2_Q)), 4),
                  "amp_range": [round(float(np.percentile(v["cons"]["a"], q)), 4) for q in AP_AMP_Q]}
            self.trust[m] = tr
            log(f"{m}: cuts chi2 {tr['chi2_cut']}, amp {tr['amp_range']} ({time.time() - t0:.0f} s)")
            ff = {}
            for k, s in self.sets.items():
                sc = self.score(m, S[k])
                comp = self.T.components(S[k]["cons"], S[k]["labels"], tr)
                ff[k] = {**rate(sc > 1.0), "by_component": {c: rate(comp[c] > 1.0)["rate"] for c in comp},
                         "by_group": {g: rate((sc > 1.0)[s.group == i])["rate"]
                                      for i, g in enumerate(s.group_names)},
                         "by_snr": {f"{lo}-{hi}": rate((sc > 1.0)[(s.snr >= lo) & (s.snr < hi)])
                                    for lo, hi in SNR_BINS if ((s.snr >= lo) & (s.snr < hi)).sum() >= 10}}
            hits = {}
            self.outside_scores = getattr(self, "outside_scores", {})
            self.outside_scores[m] = {}
            for kind, d in outside.items():
                r = self.single(m, d["flux"], d["error"])
                f = np.ones(len(d["flux"]), bool)
                sc = self.score(m, r)
                f[r["ok"]] = sc > 1.0
                self.outside_scores[m][kind] = sc
                hits[kind] = {**rate(f), "refused": int((~r["ok"]).sum()),
                              "median_teff": round(float(np.median(r["labels"][:, 0])), 0) if len(sc) else None,
                              "median_chi2": round(float(np.median(r["cons"]["chi2"])), 2) if len(sc) else None,
                              "median_amplitude": round(float(np.median(r["cons"]["a"])), 3) if len(sc) else None}
            real = []
            for f in real_files:
                s = read(f)
                r = self.single(m, s.flux[None], s.error[None], s.mask[None])
                sc = float(self.score(m, r)[0])
                real.append({"file": os.path.basename(f), "teff": round(float(r["labels"][0, 0])),
                             "logg": round(float(r["labels"][0, 1]), 2), "feh": round(float(r["labels"][0, 2]), 2),
                             "chi2": round(float(r["cons"]["chi2"][0]), 2), "amplitude": round(float(r["cons"]["a"][0]), 3),
                             "domain_score": round(sc, 2), "out_of_domain": sc > 1.0})
            self.results[m] = {"false_flags": ff, "hits": hits, "real": real,
                               "scores": {k: self.score(m, S[k]) for k in S}, "snr": {k: s.snr for k, s in self.sets.items()}}
            log(f"{m}: trust measured ({time.time() - t0:.0f} s); uncertainties ...")
            self.uncertainty(m)
            log(f"{m}: done ({time.time() - t0:.0f} s)")

    # ------------------------------------------------------------------ uncertainties
    def uncertainty(self, m):
        p = self.pred[m]
        R = {}
        for k, s in self.sets.items():
            r = p.predict(s.flux, error=s.error, mask=s.mask, return_uncertainty=True,
                          n_realizations=AP_REALIZATIONS, seed=1, batch_size=256)
            R[k] = {"err": np.stack([r[lab] - s.labels[:, j] for j, lab in enumerate(LABELS)], 1),
                    # the realization spread alone (``<label>_std_noise`` once the core calibrates ``_std``)
                    "sn": np.stack([r.get(f"{lab}_std_noise", r[f"{lab}_std"]) for lab in LABELS], 1),
                    "snr": s.snr}
        cal = {"noise_scale": {}, "sigma_model": {}}
        for j, lab in enumerate(LABELS):
            a, sm = fit_sigma(R["validation"]["err"][:, j], R["validation"]["sn"][:, j], R["validation"]["snr"])
            cal["noise_scale"][lab] = round(a, 3)
            cal["sigma_model"][lab] = round(sm, 4 if lab != "teff" else 1)
        cov = {}
        for k, r in R.items():
            cov[k] = {}
            for j, lab in enumerate(LABELS):
                tot = np.hypot(cal["noise_scale"][lab] * r["sn"][:, j], cal["sigma_model"][lab])
                z = np.abs(r["err"][:, j])
                cov[k][lab] = {"n": int(z.size),
                               "within_1sigma": round(float(np.mean(z <= tot)), 4),
                               "within_2sigma": round(float(np.mean(z <= 2 * tot)), 4),
                               "noise_only_1sigma": round(float(np.mean(z <= r["sn"][:, j])), 4),
                               "noise_only_2sigma": round(float(np.mean(z <= 2 * r["sn"][:, j])), 4),
                               "median_sigma_total": round(float(np.median(tot)), 4),
                               "median_sigma_noise": round(float(np.median(r["sn"][:, j])), 4),
                               "rms_error": round(float(np.sqrt(np.mean(r["err"][:, j] ** 2))), 4)}
            # by S/N bin
            for g, name in enumerate(self.sets[k].group_names):
                sel = self.sets[k].group == g
                cov[k].setdefault("by_group", {})[name] = {
                    lab: [round(float(np.mean(np.abs(r["err"][sel, j]) <= f * np.hypot(
                        cal["noise_scale"][lab] * r["sn"][sel, j], cal["sigma_model"][lab]))), 3) for f in (1, 2)]
                    for j, lab in enumerate(LABELS)} | {"n": int(sel.sum())}
            for lo, hi in SNR_BINS:
                sel = (r["snr"] >= lo) & (r["snr"] < hi)
                if sel.sum() < 10:
                    continue
                cov[k].setdefault("by_snr", {})[f"{lo}-{hi}"] = {
                    lab: [round(float(np.mean(np.abs(r["err"][sel, j]) <= f * np.hypot(
                        cal["noise_scale"][lab] * r["sn"][sel, j], cal["sigma_model"][lab]))), 3) for f in (1, 2)]
                    for j, lab in enumerate(LABELS)} | {"n": int(sel.sum())}
        self.unc[m] = {"calibration": cal, "coverage": cov, "raw": R}


def fit_sigma(err, sn, snr, n_bins: int = 3):
    """(noise_scale, sigma_model) so that 68.27 % / 95.45 % of |err| lie within 1 / 2 sigma_total,
    sigma_total = hypot(noise_scale * sn, sigma_model), at every S/N: the validation stars are split
    into ``n_bins`` S/N bins of equal size and the grid point minimizes the largest coverage miss
    over the bins and the two targets (then their squared sum), so that neither the faint nor the
    bright stars, nor either target, is given up for the others."""
    err = np.abs(np.asarray(err, float))
    edges = np.quantile(snr, np.linspace(0, 1, n_bins + 1))
    bins = [(snr >= lo) & (snr <= hi) for lo, hi in zip(edges[:-1], edges[1:])]
    sd = float(np.sqrt(np.mean(err ** 2)))
    best = None
    for a in np.exp(np.linspace(np.log(0.5), np.log(8.0), 81)):
        for sm in np.linspace(0.0, 2.0 * sd, 121):
            z = err / np.maximum(np.hypot(a * sn, sm), 1e-300)
            miss = [abs(np.mean(z[b] <= k) - t) for b in bins for k, t in COVERAGE_TARGETS]
            key = (round(max(miss), 3), float(np.sum(np.square(miss))))
            if best is None or key < best[0]:
                best = (key, a, sm)
    return float(best[1]), float(best[2])


def plot_scores(inside: dict, outside: dict, bins, filename: str) -> None:
    """Histograms of domain scores per model: in-domain sets (solid) and outside kinds (dashed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(inside), figsize=(13, 4))
    for ax, (m, sets) in zip(axes, inside.items()):
        for label, sc in sets.items():
            ax.hist(np.clip(sc, bins[0], bins[-1]), bins, histtype="step", density=True, label=label)
        for kind, sc in outside[m].items():
            ax.hist(np.clip(sc, bins[0], bins[-1]), bins, histtype="step", lw=1.5, alpha=0.8, density=True,
                    label=kind, ls="--")
        ax.axvline(1.0, color="k", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("domain_score (1 = threshold)")
        ax.set_title(m, fontsize=9)
    axes[0].set_ylabel("density")
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(os.path.join(IMG, filename), dpi=100)
    plt.close(fig)


def plot_apogee(ap):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.special import erf
    plot_scores({m: {f"{k} (simulated)": ap.results[m]["scores"][k] for k in AP_SETS} for m in AP_MODELS},
                ap.outside_scores, np.logspace(-1.3, 2.5, 70), "trust_apogee_scores.png")

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharex=True, sharey=True)
    k = np.linspace(0, 3.5, 141)
    for i, m in enumerate(AP_MODELS):
        cal = ap.unc[m]["calibration"]
        for j, lab in enumerate(LABELS):
            ax = axes[i, j]
            ax.plot(k, erf(k / np.sqrt(2)), color="k", lw=1.5, label="Gaussian")
            for (name, r), c in zip(ap.unc[m]["raw"].items(), ("C0", "C1", "C2")):
                z_tot = np.abs(r["err"][:, j]) / np.hypot(cal["noise_scale"][lab] * r["sn"][:, j],
                                                          cal["sigma_model"][lab])
                z_noise = np.abs(r["err"][:, j]) / r["sn"][:, j]
                ax.plot(k, [np.mean(z_tot <= x) for x in k], color=c, label=f"{name}: calibrated")
                ax.plot(k, [np.mean(z_noise <= x) for x in k], ":", color=c, label=f"{name}: noise only")
            for x, y in COVERAGE_TARGETS:
                ax.plot([x], [y], "k+", ms=10)
            ax.set_title(f"{m}: {lab}", fontsize=9)
            if i == 1:
                ax.set_xlabel("k: |error| <= k sigma")
        axes[i, 0].set_ylabel("fraction of stars")
    axes[0, 2].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(IMG, "trust_apogee_coverage.png"), dpi=100)
    plt.close(fig)


# =============================================================================== cards and docs
MK_DESCRIPTION = (
    "domain_score = max(rms / rms_cut, line-amplitude term, |c1 / c0| / tilt_cut); out_of_domain when it "
    "exceeds the threshold 1. "
    "The prepared spectrum x is fitted as c0 + c1 u + a (T - 1) (u in [-1, 1] across the grid) with every "
    "libr18 MK standard T of the predicted spectral class and its neighbours (+-neighbours classes), both "
    "smoothed by smooth_px and T broadened by each of broadening_px; rms is the residual rms of the best "
    "standard, a its line amplitude (term (1 - a) / (1 - amp_range[0]) below 1, (a - 1) / (amp_range[1] - 1) "
    "above), |c1 / c0| its residual continuum tilt. Cuts: 99th percentiles of rms and tilt and 0.5th/99.5th "
    "of a on validation spectra (libr18 augmented with "
    "each model's recipe, every spectrum fitted without its own star), pooled over autoclassmk and "
    "autoclassmk_broad; never the test atlas. The class probability (spectral_class_probability) is not "
    "part of the score: it is near 1 for most out-of-domain input. zoo/families/autoclassmk/trust.py, docs/trust.md.")
AP_DESCRIPTION = (
    "domain_score = max(chi2 / chi2_cut, line-amplitude term, bounds term); out_of_domain when it exceeds "
    "the threshold 1. The Payne's Kurucz emulator at the predicted labels ([alpha/Fe] = clip(-0.3 [Fe/H], 0, "
    "0.3)), continuum-normalized per chip like the input, is compared with the prepared spectrum over the valid "
    "ASPCAP pixels. chi2: reduced chi-square with sigma^2 = error^2 + systematic^2, leaving out the largest "
    "trim fraction of pixel terms (sky residuals, cosmic rays of real spectra); without errors the spectrum's "
    "own pixel scatter stands in; systematic is the rms difference between The Payne's data-driven "
    "APOGEE-dwarf emulator and the Kurucz one (what separates real spectra from the model). a: the amplitude "
    "of the input's line pattern relative to the model's; term (1 - a) / (1 - amp_range[0]) below 1, "
    "(a - 1) / (amp_range[1] - 1) above. Bounds term: max(0, 1 + d / bounds_scale), d the largest distance of "
    "a predicted label beyond label_bounds (the simulated training ranges) as a fraction of the range "
    "(negative inside), so above 1 exactly for labels beyond the training ranges. Cuts: 99th percentile of "
    "chi2 and 0.5th/99.5th of a on simulated validation spectra (seed 4001; half the warm dwarfs from the "
    "data-driven emulator, as in training). Stars below the emulator's 3529 K floor, featureless input and "
    "non-stellar spectra fail it. zoo/families/apogeenet/trust.py, docs/trust.md.")
AP_UNC_DESCRIPTION = (
    "<label>_std = sqrt((noise_scale * sigma_noise)^2 + sigma_model^2) per label. sigma_noise: the standard "
    "deviation of the predictions over noise realizations of the input drawn from its per-pixel errors "
    "(Olney et al. 2020 Sec. 3.5; Predictor.predict(return_uncertainty=True); returned as <label>_std_noise by "
    "zoo.families.apogeenet.trust.predict_with_uncertainty); alone it covers only a quarter to a third of the "
    "simulated errors within 1 sigma. noise_scale and sigma_model (the model-error term, in the label's "
    "unit) are fitted on simulated validation spectra (seed 4001, n_realizations each) so that 68.3 % / "
    "95.4 % of the errors lie within 1 / 2 sigma in each third of the stars by S/N. Needs per-pixel errors; "
    "valid for spectra like the simulated training set (not flagged out_of_domain); docs/trust.md.")


def _short(r):
    return {"k": r["k"], "n": r["n"], "rate": r["rate"], "ci95": r["ci95"]}


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def results(mk, ap, seconds: float, load_before: float, load_after: float) -> dict:
    """Every number docs/trust.md quotes, with its provenance (rendered by evaluation/trust.py)."""
    import platform
    import subprocess
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"experiment": "trust_mk_apogee", "command": "python scripts/trust_evaluate.py", "code_version": rev,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "duration_s": round(seconds, 1),
            "cpu_count": os.cpu_count(), "load_before": load_before, "load_after": load_after,
            "machine": f"{platform.machine()}, Python {platform.python_version()}",
            "mk_models": list(MK_MODELS), "ap_models": list(AP_MODELS), "labels": list(LABELS), "units": UNITS,
            "mk": {"trust": mk.trust, "ablation": mk.ablation, "n_validation": 2 * len(mk.train) * MK_VAL_VARIANTS,
                   "outside_what": mk.outside_what, "curves": mk.curves,
                   "results": {m: {k: v for k, v in mk.results[m].items() if k != "scores"} for m in MK_MODELS}},
            "apogee": {"trust": ap.trust, "sets": AP_SETS, "outside_what": ap.outside_what,
                       "results": {m: {k: v for k, v in ap.results[m].items() if k not in ("scores", "snr")}
                                   for m in AP_MODELS},
                       "uncertainty": {m: {k: v for k, v in ap.unc[m].items() if k != "raw"} for m in AP_MODELS}}}


def _jsonable(o):
    return o.tolist() if hasattr(o, "tolist") else str(o)


def compare_cards(mk, ap) -> list:
    """Where the cuts just calibrated differ from the exported cards' (which this script never writes: a
    card's trust block comes from its training run, from its preset)."""
    from zoo.predictor import exported_dir
    diffs = []
    want = {m: {**mk.trust} for m in MK_MODELS}
    for m in AP_MODELS:
        want[m] = {**ap.trust[m], "uncertainty": {**ap.unc[m]["calibration"], "n_realizations": AP_REALIZATIONS}}
    for m, w in want.items():
        with open(os.path.join(exported_dir(m), "card.json"), encoding="utf-8") as fh:
            have = json.load(fh)["trust"]
        for k, v in w.items():
            if k == "uncertainty":
                for kk, vv in v.items():
                    if json.loads(json.dumps(vv, default=_jsonable)) != have.get("uncertainty", {}).get(kk):
                        diffs.append(f"{m}: trust.uncertainty.{kk} calibrated {vv}, card {have.get('uncertainty', {}).get(kk)}")
            elif json.loads(json.dumps(v, default=_jsonable)) != have.get(k):
                diffs.append(f"{m}: trust.{k} calibrated {v}, card {have.get(k)}")
    return diffs


def write_presets(mk, ap):
    """The calibrated method and cuts into the family presets (source data: the next training run of each
    model exports them into its card)."""
    fam = {"autoclassmk": "autoclassmk", "apogeenet": "apogeenet", "starnet": "apogeenet"}

    def path(name):
        return os.path.join(REPO, "zoo", "families", fam[name], "presets", f"{name}.json")

    def rewrite(name, trust):
        with open(path(name), encoding="utf-8") as fh:
            d = json.load(fh)
        d["trust"] = trust
        with open(path(name), "w", encoding="utf-8") as fh:
            json.dump(d, fh, indent=2)
            fh.write("\n")

    rewrite("autoclassmk", {**mk.trust, "description": MK_DESCRIPTION})
    for m in AP_MODELS:
        unc = {"description": AP_UNC_DESCRIPTION, **ap.unc[m]["calibration"], "n_realizations": AP_REALIZATIONS}
        rewrite(m, {**ap.trust[m], "description": AP_DESCRIPTION, "uncertainty": unc})


def main(argv=None):
    ap_ = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap_.add_argument("--no-write", action="store_true", help="print only; write no results file or figure")
    ap_.add_argument("--write-presets", action="store_true",
                     help="also write the calibrated cuts into the family presets (the next training run exports them)")
    ap_.add_argument("--quick", action="store_true", help="tiny sets, to check the script (implies --no-write)")
    args = ap_.parse_args(argv)
    if args.quick:
        global MK_VAL_VARIANTS, MK_ROBUST_VARIANTS, AP_REALIZATIONS, OUTSIDE_SCALE, TEST_VARIANTS
        MK_VAL_VARIANTS, MK_ROBUST_VARIANTS, AP_REALIZATIONS, OUTSIDE_SCALE, TEST_VARIANTS = 2, 1, 5, 1, 2
        for k in AP_SETS:
            AP_SETS[k]["n"] = 60
        args.no_write = True
    load_before = round(os.getloadavg()[0], 2)
    t0 = time.time()
    mk = MK()
    mk.calibrate()
    mk.measure()
    log(f"MK rates measured ({time.time() - t0:.0f} s); robustness ...")
    mk.robustness()
    log(f"MK robustness done ({time.time() - t0:.0f} s)")
    ap = Apogee()
    ap.run()
    seconds = time.time() - t0
    res = json.loads(json.dumps(results(mk, ap, seconds, load_before, round(os.getloadavg()[0], 2)),
                                default=_jsonable))
    diffs = compare_cards(mk, ap)
    for d in diffs:
        log(f"differs from the exported card: {d}")
    log("the exported cards' trust blocks agree with this calibration" if not diffs else
        f"{len(diffs)} differences: the cards keep what their training runs exported; --write-presets and a "
        "retraining carry the new cuts into them")
    if not args.no_write:
        mk.plot()
        plot_apogee(ap)
        with open(RESULTS, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=1)
        log(f"wrote {os.path.relpath(RESULTS, REPO)} and docs/img/trust_*.png; python -m evaluation.render "
            "puts the numbers into docs/trust.md")
        if args.write_presets:
            write_presets(mk, ap)
            log("wrote the trust blocks of the presets")
    log(f"trust_evaluate: {time.time() - t0:.0f} s ({(time.time() - t0) / 60:.1f} min)")


if __name__ == "__main__":
    main()
