"""Loop logic of stratified fine-tuning (training.apogeenet.stratified, Olney et al. 2020 Sec. 3.4)."""
import numpy as np
import pytest

from training.apogeenet.stratified import draw_subset, keras_fit_epoch, stratified_finetune


def test_draw_subset_small_groups_plus_fraction_of_large():
    group = np.repeat([0, 1, 2], [1000, 30, 20])
    train = np.arange(0, 1050, 1)[::1]
    rng = np.random.default_rng(0)
    a = draw_subset(rng, train, group, 0, 0.05)
    b = draw_subset(rng, train, group, 0, 0.05)
    for s in (a, b):
        assert np.bincount(group[s], minlength=3).tolist() == [50, 30, 20]
        assert len(np.unique(s)) == s.size
    assert not np.array_equal(a, b)          # a new 5 % each round
    only = draw_subset(rng, np.arange(1000, 1050), group, 0, 0.05)   # no large group at all
    assert np.all(group[only] != 0) and only.size == 50


class ScriptedModel:
    """'Weights' are the number of epochs trained; evaluate reads a script of small-group scores."""

    def __init__(self, script):
        self.script, self.w, self.fits, self.loads = list(script), 0, [], []

    def get_weights(self):
        return self.w

    def set_weights(self, w):
        self.loads.append(w)
        self.w = w

    def fit_epoch(self, model, idx):
        self.fits.append(np.asarray(idx))
        self.w += 1

    def evaluate(self, model):
        # score of the current weights: the script entry at the current epoch count
        return {"small": self.script[self.w], "large": 0.5}


def test_loop_reloads_best_redraws_and_stops():
    # epoch:       0    1    2    3    4    5    6    7    8    9
    script = [1.0, 0.9, 0.95, 0.96, 0.8, 0.85, 0.9, 0.91, 0.92, 0.93] + [0.99] * 30
    m = ScriptedModel(script)

    def evaluate(model):
        return {"small": script[len(m.fits)], "large": 0.5}

    group = np.repeat([0, 1], [200, 10])
    res = stratified_finetune(m, m.fit_epoch, evaluate, np.arange(210), group, fraction=0.05,
                              patience=2, round_patience=1, max_rounds=10, seed=0, log=None)
    # round 1: epochs 1 (0.9*), 2, 3 -> stops (patience 2) and reloads the weights of epoch 1
    # round 2: epochs 4 (0.8*), 5, 6 -> reload epoch-4 weights; round 3: 7, 8 no improvement -> stop
    assert [h["round"] for h in res.history] == [1, 1, 1, 2, 2, 2, 3, 3]
    assert res.rounds == 3 and res.improved_rounds == 2 and res.epochs == 8
    assert res.best["small"] == 0.8 and res.initial["small"] == 1.0
    # reloads: best of round 1 (weights after 1 epoch), then the round-2 best (reloaded 1 + 1 epoch)
    # at the end of rounds 2 and 3 and once more at the end
    assert m.loads == [1, 2, 2, 2] and m.w == 2
    assert "stopped improving" in res.stop_reason
    # a fresh 5 % of the large group each round, always all the small group
    firsts = [m.fits[0], m.fits[3], m.fits[6]]
    for f in firsts:
        assert np.bincount(group[f], minlength=2).tolist() == [10, 10]
    assert not np.array_equal(firsts[0], firsts[1])


def test_round_patience_and_max_rounds():
    script = [1.0] + [1.0] * 50                  # never improves
    m = ScriptedModel(script)
    res = stratified_finetune(m, m.fit_epoch, lambda _: {"small": 1.0}, np.arange(40),
                              np.repeat([0, 1], [20, 20]), patience=1, round_patience=3,
                              max_rounds=10, log=None)
    assert res.rounds == 3 and res.epochs == 3 and res.improved_rounds == 0
    assert m.w == 0                              # back to the starting weights
    script = [1.0, 0.9, 0.8, 0.7] + [0.7] * 20   # improves for 3 epochs, then flat
    m = ScriptedModel(script)
    res = stratified_finetune(m, m.fit_epoch, lambda _: {"small": script[len(m.fits)]},
                              np.arange(40), np.repeat([0, 1], [20, 20]), patience=1,
                              round_patience=5, max_rounds=2, log=None)
    assert "max_rounds" in res.stop_reason and res.epochs == 5 and res.best["small"] == 0.7
    m = ScriptedModel(script)
    res = stratified_finetune(m, m.fit_epoch, lambda _: {"small": script[len(m.fits)]},
                              np.arange(40), np.repeat([0, 1], [20, 20]), patience=5,
                              time_budget_s=0.0, log=None)
    assert "time budget" in res.stop_reason and res.epochs == 1


def test_tiny_keras_model_improves_small_groups():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 600
    group = np.where(rng.random(n) < 0.85, 0, 1)
    x = rng.normal(size=(n, 8)).astype("float32")
    # the small group follows a different relation: a model fit to everything is poor on it
    w0, w1 = rng.normal(size=(8, 1)), rng.normal(size=(8, 1))
    y = np.where(group[:, None] == 0, x @ w0, x @ w1).astype("float32")
    tr, dev = np.arange(0, 450), np.arange(450, n)
    inp = keras.Input((8,), name="flux")
    model = keras.Model(inp, {"labels": keras.layers.Dense(1, name="labels")(inp)})
    model.compile(keras.optimizers.SGD(0.05), loss={"labels": "mse"})
    model.fit(x[tr], {"labels": y[tr]}, epochs=20, batch_size=64, verbose=0)

    def evaluate(m):
        p = np.asarray(m.predict(x[dev], verbose=0)["labels"])
        se = ((p - y[dev]) ** 2)[:, 0]
        return {"small": float(se[group[dev] == 1].mean()), "large": float(se[group[dev] == 0].mean())}

    res = stratified_finetune(model, keras_fit_epoch(x, y, 32), evaluate, tr, group, patience=2,
                              max_rounds=4, seed=0, log=None)
    assert res.best["small"] < res.initial["small"]
    assert evaluate(model)["small"] == pytest.approx(res.best["small"], rel=1e-6)   # best kept
    assert res.history and all(h["n_subset"] < tr.size for h in res.history)


def test_stratified_history_plot(tmp_path):
    from training.apogeenet.regression import plot_stratified_history
    hist = [{"round": r, "epoch": e, "n_subset": 10, "large": 0.02, "mdwarf": 0.05 / e, "yso": 0.04 / e,
             "small": 0.045 / e, "improved": True} for r in (1, 2) for e in (1, 2, 3)]
    out = tmp_path / "ft.png"
    plot_stratified_history(hist, ["large", "mdwarf", "yso"], out, "t", {"large": 0.02, "small": 0.05})
    assert out.stat().st_size > 5000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
