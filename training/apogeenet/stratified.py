"""Stratified fine-tuning (Olney et al. 2020, AJ 159, 182, Sec. 3.4), reusable by any recipe.

A network trained to convergence on an imbalanced set (one large group, some
small ones) is dominated by the large group.  Stratified fine-tuning goes on
training on *all* the small groups' training spectra plus a random
``fraction`` (5 %) of the large group's; each time early stopping fires
(``patience`` evaluations without improvement of the monitored dev metric)
the best model so far is reloaded and a *new* random fraction of the large
group is drawn; fine-tuning ends when a whole round brings no improvement on
the small groups (``round_patience`` rounds in a row), or at ``max_rounds`` /
``time_budget_s``.

The loop is framework-agnostic: it needs a model with ``get_weights`` /
``set_weights`` and two callables, ``fit_epoch(model, indices)`` (one pass over
those training indices) and ``evaluate(model) -> dict`` (dev metrics, lower is
better, including ``monitor``), so that it is unit-tested with a tiny model.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["draw_subset", "stratified_finetune", "StratifiedResult", "keras_fit_epoch"]


def draw_subset(rng: np.random.Generator, train_idx: np.ndarray, group: np.ndarray,
                large_group: int = 0, fraction: float = 0.05) -> np.ndarray:
    """All training indices of the small groups plus a random ``fraction`` of the large group's.

    ``train_idx`` indexes ``group``; at least one large-group spectrum is drawn
    when the large group has any.  Returns sorted indices.
    """
    train_idx = np.asarray(train_idx)
    g = np.asarray(group)[train_idx]
    large = train_idx[g == large_group]
    small = train_idx[g != large_group]
    k = min(large.size, max(1, int(round(fraction * large.size)))) if large.size else 0
    pick = rng.choice(large, size=k, replace=False) if k else large[:0]
    return np.sort(np.concatenate([small, pick]))


@dataclass
class StratifiedResult:
    initial: dict                      # dev metrics before fine-tuning
    best: dict                         # dev metrics of the model kept
    history: list = field(default_factory=list)   # one dict per epoch: round, epoch, metrics, improved
    rounds: int = 0
    epochs: int = 0
    improved_rounds: int = 0
    stop_reason: str = ""
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"initial": self.initial, "best": self.best, "rounds": self.rounds,
                "epochs": self.epochs, "improved_rounds": self.improved_rounds,
                "stop_reason": self.stop_reason, "seconds": round(self.seconds, 1)}


def stratified_finetune(model, fit_epoch: Callable, evaluate: Callable, train_idx, group, *,
                        large_group: int = 0, fraction: float = 0.05, monitor: str = "small",
                        patience: int = 5, round_patience: int = 1, max_rounds: int = 20,
                        time_budget_s: float | None = None, min_delta: float = 0.0,
                        seed: int = 0, log: Callable | None = print) -> StratifiedResult:
    """Run stratified fine-tuning in place; ``model`` ends with the best weights.

    Parameters
    ----------
    model : has ``get_weights()`` / ``set_weights(w)`` (any Keras model).
    fit_epoch : ``fit_epoch(model, indices)`` trains one epoch on ``indices``.
    evaluate : ``evaluate(model) -> dict`` of dev metrics (lower is better);
        ``monitor`` names the one that decides (e.g. the small groups' mean
        standardized MSE); the others (e.g. the large group's) are recorded.
    train_idx, group : training indices and the group index of every spectrum.
    large_group : group index of the large group.
    fraction : fraction of the large group's training spectra drawn per round (0.05).
    patience : evaluations without improvement before early stopping fires (5).
    round_patience : rounds in a row without improvement that end fine-tuning (1).
    max_rounds, time_budget_s : hard limits (the budget is checked after each epoch).
    seed : seed of the draws.
    """
    rng = np.random.default_rng(seed)
    t0 = time.time()
    say = log or (lambda *a, **k: None)
    best = dict(evaluate(model))
    res = StratifiedResult(initial=dict(best), best=best)
    best_w = model.get_weights()
    without = 0
    out_of_time = False
    for r in range(max_rounds):
        idx = draw_subset(rng, train_idx, group, large_group, fraction)
        res.rounds = r + 1
        wait, improved = 0, False
        while True:
            fit_epoch(model, idx)
            ev = dict(evaluate(model))
            res.epochs += 1
            better = ev[monitor] < best[monitor] - min_delta
            if better:
                best, best_w, wait, improved = ev, model.get_weights(), 0, True
            else:
                wait += 1
            res.history.append({"round": r + 1, "epoch": res.epochs, "n_subset": int(idx.size),
                                **ev, "improved": better})
            say(f"  stratified round {r + 1} epoch {res.epochs}: {monitor} {ev[monitor]:.4f} "
                f"(best {best[monitor]:.4f}){' *' if better else ''}")
            if time_budget_s is not None and time.time() - t0 > time_budget_s:
                out_of_time = True
                break
            if wait >= patience:          # early stopping fires: reload the best, redraw
                break
        model.set_weights(best_w)
        if improved:
            res.improved_rounds += 1
            without = 0
        else:
            without += 1
        if out_of_time:
            res.stop_reason = f"time budget of {time_budget_s:.0f} s reached"
            break
        if without >= round_patience:
            res.stop_reason = (f"{without} round(s) without improvement of {monitor}: "
                               "the small groups stopped improving")
            break
    else:
        res.stop_reason = f"max_rounds={max_rounds} reached"
    model.set_weights(best_w)
    res.best = best
    res.seconds = time.time() - t0
    return res


def keras_fit_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, verbose: int = 0):
    """A ``fit_epoch`` for Keras models with single-output dict targets ``{"labels": y}``."""
    def fit_epoch(model, idx):
        model.fit(x[idx], {"labels": y[idx]}, batch_size=batch_size, epochs=1, shuffle=True,
                  verbose=verbose)
    return fit_epoch
