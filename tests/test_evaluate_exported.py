"""Each exported model's ``--evaluate`` path, rerun on a small fixed sample, against its card.

``python -m training.<model> --evaluate-sample`` scores the committed export (ONNX backend)
on the data of the task's ``--quick`` recipe drawn with a fresh seed (recipe seed + 1000):
a few dozen to a few hundred spectra from the distribution the card's full-test metrics were
measured on, none of them the training run's.  So the sample metric must agree with the
card's within its sampling error:

* accuracies: ``|sample - card| <= 3 sigma + 1/n``, sigma the binomial standard error
  ``sqrt(p (1 - p) / n)`` at the card's value ``p`` (floored at one spectrum, ``1/n``, so
  that a card's 100 % still allows a few misses), ``n`` the number of independent spectra in the sample (for
  AutoClassMK the 98 distinct libr18_27 spectra, not their augmented copies);
* standardized MSE (APOGEE Net, StarNet): ``|ln(sample / card)| <= 3 sqrt(2 / n)`` (the
  relative standard error of a mean of ``n`` squared Gaussian errors is ``sqrt(2 / n)``).

A failure means the export, its card, or the data code it was made with no longer agree
(e.g. the simulator changed after the model was trained: retrain and re-export).
"""
import importlib
import json
import math
import os

import pytest

from training.skeleton import main as skeleton_main
from zoo.predictor import exported_dir

#: model -> (module, Task class, extra flags)
CASES = {
    "emission_fc": ("training.emission_fc", "EmissionFC", []),
    "emission_cnn": ("training.emission_cnn", "EmissionCNN", []),
    "autoclassmk": ("training.autoclassmk", "AutoClassMK", []),
    "autoclassmk_broad": ("training.autoclassmk", "AutoClassMK", ["--model", "autoclassmk_broad"]),
    "racnet_ds1": ("training.racnet", "RacNetTask", ["--model", "racnet_ds1", "--no-cache"]),
    "racnet_ds2": ("training.racnet", "RacNetTask", ["--model", "racnet_ds2", "--no-cache"]),
    "racnet_fgk": ("training.racnet", "RacNetTask", ["--model", "racnet_fgk", "--no-cache"]),
    "apogeenet": ("training.apogeenet", "ApogeeNet", []),
    "starnet": ("training.starnet", "StarNet", []),
}


def accuracy_tolerance(p: float, n: int) -> float:
    """3 binomial standard errors at the card's accuracy ``p`` for ``n`` spectra, plus one spectrum."""
    return 3 * math.sqrt(max(p * (1 - p), 1 / n) / n) + 1 / n


def test_accuracy_tolerance():
    assert accuracy_tolerance(0.9, 100) == pytest.approx(0.1)          # 3 * 0.03 + 0.01
    assert accuracy_tolerance(1.0, 100) == pytest.approx(0.04)         # sigma floored at one spectrum
    assert accuracy_tolerance(0.98, 73) > 0.98 - 0.93                  # thesis-level accuracy, 73 spectra


def _card_metrics(name):
    path = os.path.join(exported_dir(name), "card.json")
    if not os.path.exists(path):
        pytest.skip(f"{name} is not exported")
    with open(path) as fh:
        return json.load(fh)["metrics"]


def _evaluate_sample(name, tmp_path):
    module, cls, extra = CASES[name]
    task = getattr(importlib.import_module(module), cls)
    if name in ("apogeenet", "starnet"):
        extra = [*extra, "--cache", str(tmp_path / "cache")]
    metrics = skeleton_main(task, ["--evaluate-sample", "--backend", "onnx", "--out", str(tmp_path / name),
                                   *extra])
    with open(tmp_path / f"{name}_sample" / "evaluation.json") as fh:
        info = json.load(fh)["evaluation"]
    assert info["sample"] and info["exported_dir"] == exported_dir(name) and info["backend"] == "onnx"
    assert info["recipe"]["seed"] == 1000 + _registered_seed(name)
    return metrics


def _registered_seed(name):
    from zoo.registry import get_entry
    return get_entry(name).recipe.seed


def _check_accuracy(label, sample, card, n):
    tol = accuracy_tolerance(card, n)
    assert abs(sample - card) <= tol, (f"{label}: sample {sample:.4f} on {n} spectra vs card {card:.4f} "
                                       f"(tolerance {tol:.4f})")


@pytest.mark.parametrize("name", ["emission_fc", "emission_cnn"])
def test_emission_sample_matches_card(name, tmp_path):
    card = _card_metrics(name)
    from zoo.families.emission.simulate import SimConfig
    with open(os.path.join(exported_dir(name), "card.json")) as fh:
        trained_on = json.load(fh)["data"].get("simulator")
    now = json.loads(json.dumps(SimConfig().to_dict()))     # tuples as the card's JSON lists
    changed = sorted(k for k in set(now) | set(trained_on or {}) if (trained_on or {}).get(k) != now.get(k))
    assert not changed, f"{name} was trained on another simulator (fields {changed}): retrain and re-export"
    m = _evaluate_sample(name, tmp_path)
    _check_accuracy(f"{name} test accuracy", m["test"]["accuracy"], card["test"]["accuracy"], m["test"]["n"])
    # the real files: what the card recorded at export
    if "real_files" in card:
        for f, v in m["real_files"].items():
            if not f.startswith("_") and f in card["real_files"]:
                assert v["class"] == card["real_files"][f]["class"], f


@pytest.mark.parametrize("name", ["autoclassmk", "autoclassmk_broad"])
def test_autoclassmk_sample_matches_card(name, tmp_path):
    card = _card_metrics(name)
    m = _evaluate_sample(name, tmp_path)
    n_spectra = 98            # libr18_27 spectra whose type is a class of the network; variants are not independent
    assert m["n_test"] % n_spectra == 0
    for head in ("spectral_class", "luminosity_class"):
        _check_accuracy(f"{name} {head}", m["exported"][head]["accuracy"], card[head]["accuracy"], n_spectra)


@pytest.mark.parametrize("name", ["racnet_ds1", "racnet_ds2", "racnet_fgk"])
def test_racnet_sample_matches_card(name, tmp_path):
    card = _card_metrics(name)
    m = _evaluate_sample(name, tmp_path)
    _check_accuracy(f"{name} test accuracy", m["test_accuracy"], card["test_accuracy"], m["test_n"])


@pytest.mark.parametrize("name", ["apogeenet", "starnet"])
def test_regressor_sample_matches_card(name, tmp_path):
    card = _card_metrics(name)
    m = _evaluate_sample(name, tmp_path)
    n = m["exported"]["scatter_test"]["all"]["n"]
    sample, full = m["exported"]["mse"]["test"]["all"], card["standardized_mse"]["test"]["all"]
    tol = 3 * math.sqrt(2 / n)
    assert abs(math.log(sample / full)) <= tol, (f"{name} standardized test MSE: sample {sample:.5f} on {n} "
                                                 f"spectra vs card {full:.5f} (|ln ratio| tolerance {tol:.3f})")
