"""Splits, SMOTE only on the training set, the recipe's thesis numbers, the networks, trust."""
import numpy as np

from training.bestars import (THESIS_TABLE_9_1, per_class_accuracy, smote_balance, split_and_balance,
                                      stratified_split)
from zoo.families.bestars.recipes import CNN_RECIPE, FC_RECIPE, THESIS_CLASS_COUNTS, EmissionRecipe


def _data(n=(530, 611, 153), seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(k, i) for i, k in enumerate(n)])
    x = (rng.normal(size=(len(y), 140)) + y[:, None]).astype(np.float32)
    return x, y


def test_recipe_holds_the_thesis_numbers():
    r = EmissionRecipe()
    assert (r.learning_rate, r.beta_1, r.beta_2, r.epsilon) == (1e-3, 0.9, 0.999, 1e-8)   # Sec. 9.2.3
    assert (r.batch_size, r.epochs, r.dropout) == (256, 250, 0.5)
    assert (r.test_fraction, r.val_fraction, r.smote, r.blur_stddev_px) == (0.10, 0.20, True, 7.0)
    assert r.class_counts() == dict(THESIS_CLASS_COUNTS) == {"emission": 5301, "absorption": 6103,
                                                             "double-peak": 1533}
    assert FC_RECIPE.replace(max_minutes=CNN_RECIPE.max_minutes) == CNN_RECIPE


def test_split_matches_thesis_table_9_1():
    """The thesis's counts with its fractions give Table 9.1 to within rounding."""
    x, y = _data((5301, 6103, 1533))
    tr, va, te = stratified_split(y, 0.10, 0.20, seed=0)
    assert len(set(tr) | set(va) | set(te)) == len(y) and not (set(tr) & set(va) or set(tr) & set(te))
    for name, idx in (("train", tr), ("validation", va), ("test", te)):
        got = np.bincount(y[idx], minlength=3)
        want = [THESIS_TABLE_9_1[name][c] for c in ("emission", "absorption", "double-peak")]
        assert np.all(np.abs(got - want) <= 2), (name, got, want)


def test_smote_touches_only_the_training_set():
    x, y = _data()
    r = EmissionRecipe(seed=3)
    sets = split_and_balance(x, y, r)
    tr, va, te, fit = sets["train"], sets["val"], sets["test"], sets["train_fit"]
    # validation and test are the original rows, untouched and still imbalanced
    np.testing.assert_array_equal(va["x"], x[va["index"]])
    np.testing.assert_array_equal(te["x"], x[te["index"]])
    assert len(set(np.bincount(te["y"]))) == 3
    # the fitted set: the training rows first, unchanged, then synthetic rows, balanced
    n = len(tr["y"])
    np.testing.assert_array_equal(fit["x"][:n], tr["x"])
    assert not fit["synthetic"][:n].any() and fit["synthetic"][n:].all()
    assert np.all(np.bincount(fit["y"]) == np.bincount(tr["y"]).max())
    # no synthetic row equals (or was made from) a validation or test row
    held = np.concatenate([va["x"], te["x"]])
    syn = fit["x"][fit["synthetic"]]
    d = np.min(np.linalg.norm(syn[:, None, :20] - held[None, :, :20], axis=2), axis=1)
    assert np.all(d > 0)
    # each synthetic row lies on a segment between two training rows of its class (SMOTE)
    cls = fit["y"][fit["synthetic"]]
    for s, c in zip(syn[:20], cls[:20]):
        own = tr["x"][tr["y"] == c]
        assert np.min(np.linalg.norm(own - s, axis=1)) < np.median(np.linalg.norm(own - own[0], axis=1))


def test_no_smote_keeps_the_training_set():
    x, y = _data()
    sets = split_and_balance(x, y, EmissionRecipe(smote=False))
    np.testing.assert_array_equal(sets["train_fit"]["x"], sets["train"]["x"])
    assert not sets["train_fit"]["synthetic"].any()


def test_smote_balance_deterministic():
    x, y = _data((50, 80, 20))
    a = smote_balance(x, y, 5, seed=1)
    b = smote_balance(x, y, 5, seed=1)
    np.testing.assert_array_equal(a[0], b[0])


def test_per_class_accuracy():
    acc = per_class_accuracy([0, 0, 1, 2, 2], [0, 1, 1, 2, 0])
    assert acc == {"emission": 0.5, "absorption": 1.0, "double-peak": 0.5}


def test_trust_score():
    from zoo.families.bestars.trust import fit_reference, pca_score
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 140))
    x = (rng.normal(size=(2000, 3)) @ base + 0.05 * rng.normal(size=(2000, 140)))
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    ref = fit_reference(x[:1500], 3)
    s = pca_score(x[1500:], ref)
    assert 0.5 < np.median(s) < 1.5
    assert np.isinf(pca_score(np.zeros((1, 140)), ref)).all()                 # flat line
    noise = rng.normal(size=(5, 140))
    assert np.all(pca_score(noise, ref) > np.quantile(s, 0.99))              # pure noise


def test_networks_are_the_thesis_architectures():
    import keras

    from zoo import create_model
    from zoo.families.bestars.models import PARAMETERS
    fc, cnn = create_model("emission_fc"), create_model("emission_cnn")
    assert fc.count_params() == PARAMETERS["emission_fc"] and cnn.count_params() == PARAMETERS["emission_cnn"]
    dense = [l for l in fc.layers if isinstance(l, keras.layers.Dense)]
    assert [l.units for l in dense] == [512] * 5 + [3]
    assert all(l.rate == 0.5 for l in fc.layers if isinstance(l, keras.layers.Dropout))
    convs = [l for l in cnn.layers if isinstance(l, keras.layers.Conv1D)]
    assert [l.filters for l in convs] == [64, 64, 128, 128, 256, 256]
    assert all(l.kernel_size == (3,) and l.padding == "valid" for l in convs)
    pools = [l for l in cnn.layers if isinstance(l, keras.layers.MaxPooling1D)]
    assert len(pools) == 3 and all(p.pool_size == (2,) and p.strides == (2,) for p in pools)
    assert cnn.get_layer("flatten").output.shape[-1] == 14 * 256
    out = cnn(np.zeros((2, 140), np.float32))
    assert set(out) == {"halpha_class"} and out["halpha_class"].shape == (2, 3)
    np.testing.assert_allclose(np.asarray(out["halpha_class"]).sum(1), 1, rtol=1e-5)
