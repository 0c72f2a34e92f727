"""RAC-Net family (Zou et al. 2020): architecture, Eq. 1, balancing, simulator, bad input, trust."""
import json
import os

import numpy as np
import pytest

import zoo
from zoo.errors import (InsufficientDataError, NonFiniteFluxError, SpectrumLengthError, UnphysicalFluxError,
                        WavelengthCoverageError)
from zoo.families.racnet import simulate as S
from zoo.families.racnet.models import CLASSES
from zoo.families.racnet.paper import PARAMS_TOLERANCE, TABLE4
from zoo.families.racnet.preprocess import l2_normalize
from zoo.families.racnet.trust import detrend, features, fit_trust, score, score_parts
from zoo.preprocess import to_contract

#: exact counts of the reconstruction as the runs recorded them (docs/racnet.md renders them from there)
with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "results",
                       "racnet_table4.json"), encoding="utf-8") as _fh:
    EXACT = {r["name"]: r["params"] for r in json.load(_fh)["rows"]
             if r["name"] in ("racnet_ds1", "racnet_ds2", "racnet_fgk", "rcnet_ds1", "cnet_ds1", "fcnet_ds1")}


@pytest.fixture(scope="module")
def contract():
    return zoo.get_card("racnet_ds1", trained=False).input


@pytest.mark.parametrize("arch", sorted(TABLE4))
def test_parameter_counts_match_table4(arch):
    for task in ("ds1", "ds2", "fgk"):
        n = zoo.create_model(f"{arch}_{task}").count_params()
        assert abs(n / TABLE4[arch]["params"] - 1) <= PARAMS_TOLERANCE, (arch, task, n)


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_counts_and_heads(name):
    m = zoo.create_model(name)
    assert m.count_params() == EXACT[name]
    card = zoo.get_card(name, trained=False)
    assert m.output["class"].shape[-1] == len(card.output("class").classes)
    assert m.input_shape == (None, card.input.n_pixels) == (None, 3899)


def test_the_documented_sizes_are_the_built_ones():
    """docs/racnet.md's derived figures: C-Net's flattened length (163 x 128) and the template fit's shifts."""
    import keras

    from evaluation.racnet import DERIVED
    m = zoo.create_model("cnet_ds1")
    flat = next(l for l in m.layers if isinstance(l, keras.layers.Flatten))
    assert tuple(flat.input.shape[1:]) == (DERIVED.cnet_flat_length, 128)
    assert 270 < DERIVED.star_shift_kms < 280      # 2 bins of 2e-4 dex


def test_registered_names_and_classes():
    names = zoo.list_models()
    for arch in ("racnet", "rcnet", "cnet", "fcnet"):
        for task in ("ds1", "ds2", "fgk"):
            assert f"{arch}_{task}" in names
    assert zoo.get_card("racnet_fgk", trained=False).output("class").classes == list(CLASSES["fgk"])
    assert zoo.get_card("racnet_ds1", trained=False).output("class").classes == list(CLASSES["ds1"])


def test_attention_block_shapes_and_effect():
    import keras
    from zoo.families.racnet.models import channel_attention
    inp = keras.Input((50, 6))
    out, w = channel_attention(inp, 50, 8, name="t", seed=1, return_weights=True)
    m = keras.Model(inp, [out, w])
    x = np.random.default_rng(0).normal(size=(3, 50, 6)).astype("float32")
    y, weights = m.predict(x, verbose=0)
    assert y.shape == (3, 50, 8) and weights.shape == (3, 8)
    assert np.all((weights > 0) & (weights < 1))
    conv = keras.Model(inp, m.get_layer("t_conv").output).predict(x, verbose=0)
    np.testing.assert_allclose(y, conv * weights[:, None, :], rtol=1e-5, atol=1e-6)   # Eq. 11
    # Eq. 10's dense layer: the concatenated max and average pools (2c) -> c weights
    k, b = m.get_layer("t_weights").get_weights()
    assert k.shape == (16, 8)
    m.get_layer("t_weights").set_weights([np.zeros_like(k), np.full_like(b, -20.0)])
    y_off, w_off = m.predict(x, verbose=0)
    assert np.all(w_off < 1e-6) and np.abs(y_off).max() < 1e-5


def test_attention_changes_racnet_output():
    m = zoo.create_model("racnet_ds1", seed=3)
    x = np.abs(np.random.default_rng(1).normal(1, 0.1, size=(2, 3899))).astype("float32")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    before = m.predict(x, verbose=0)["class"]
    layer = m.get_layer("block8_att_weights")
    k, b = layer.get_weights()
    layer.set_weights([np.zeros_like(k), np.full_like(b, -20.0)])
    after = m.predict(x, verbose=0)["class"]
    assert np.abs(after - before).max() > 1e-4


def test_residual_shortcut_shapes():
    m = zoo.create_model("rcnet_ds1")
    names = {l.name for l in m.layers}
    widths = (16, 32, 32, 32, 64, 64, 128, 128)
    prev = 1
    for i, f in enumerate(widths, 1):
        add = m.get_layer(f"block{i}_add")
        a, b = (t.shape for t in add.input)
        assert a == b and a[-1] == f          # H(x) = F(x) + x: both terms have f channels
        if prev != f:
            assert m.get_layer(f"block{i}_shortcut").kernel.shape == (1, prev, f)   # 1x1 projection
        else:
            assert f"block{i}_shortcut" not in names                                 # identity
        prev = f
    assert not any(n.endswith("_att_weights") for n in names)
    assert sum(n.endswith("_att_weights") for n in {l.name for l in zoo.create_model("racnet_ds1").layers}) == 8


def test_l2_standardization(contract):
    rng = np.random.default_rng(0)
    flux = rng.uniform(1, 5, size=(3, 3899))
    mask = np.zeros_like(flux, bool)
    mask[1, 100:200] = True
    out, err, m = l2_normalize(flux * np.array([[1.0], [1e3], [1e-4]]), flux * 0.1, mask)
    norms = np.sqrt(np.sum(np.where(m, 0, out) ** 2, axis=1))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)
    assert np.all(out[1, 100:200] == 0) and m[1, 100:200].all()
    prep = to_contract(flux * 123.0, contract)       # scale-free: Eq. 1 removes the flux scale
    prep2 = to_contract(flux, contract)
    np.testing.assert_allclose(prep.flux, prep2.flux, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(prep.flux, axis=1), 1.0, rtol=1e-5)


def test_balancing_only_on_training_split():
    from training.racnet.data import balance, split
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2, 3], [300, 80, 40, 60])
    X = rng.normal(1, 0.1, size=(y.size, 20)).astype(np.float32)
    X[:, 0] = np.arange(y.size)                      # a unique id per spectrum
    tr, va, te = split(y, 0.2, 0.1, seed=0)
    assert not set(tr) & set(te) and not set(tr) & set(va) and not set(va) & set(te)
    assert len(tr) + len(va) + len(te) == y.size
    Xb, yb, src, copy = balance(X[tr], y[tr], 70, noise_sigma=0.05, seed=0)
    assert np.all(np.bincount(yb) == 70)
    rows = tr[src]                                   # every balanced row comes from the training split
    assert not set(rows) & set(te) and not set(rows) & set(va)
    np.testing.assert_array_equal(yb, y[rows])
    clean = ~copy
    np.testing.assert_array_equal(Xb[clean], X[rows[clean]])          # originals untouched
    assert np.all(np.abs(Xb[copy] - X[rows[copy]]).max(axis=1) > 0)   # copies carry noise
    assert len(set(src[clean])) == clean.sum()                         # one clean row per source


def test_simulator_labels_and_lyman_alpha():
    wave = 10 ** S.contract_loglam()
    d = S.simulate(["QSO"], 0, z=2.5, snr=200)
    f = d["flux"][0]
    lya = 1215.67 * 3.5
    assert wave[0] < lya < wave[-1]
    peak = wave[np.argmax(np.where(d["mask"][0], 0, f))]
    assert abs(peak - lya) < 60, peak                # Ly-alpha (+N V) is the strongest feature in band
    # at z = 2 Ly-alpha (3647.7 A) lies just blueward of LAMOST's 3700 A; C IV 1549 is in band
    d2 = S.simulate(["QSO"], 1, z=2.0, snr=200)
    civ = 1549.06 * 3
    f2 = np.where(d2["mask"][0], np.nan, d2["flux"][0])
    near = np.nanmedian(f2[np.abs(wave - civ) < 15])
    side = np.nanmedian(f2[(np.abs(wave - civ) > 120) & (np.abs(wave - civ) < 200)])
    assert 1215.67 * 3 < wave[0] and near > 1.2 * side
    kinds = ["STAR", "GALAXY", "QSO", "UNKNOWN", "F", "G", "K"]
    sims = S.simulate(kinds, 2)
    assert [m["kind"] for m in sims["meta"]] == kinds
    assert [m["subtype"] for m in sims["meta"][4:]] == ["F", "G", "K"]
    assert 0 <= sims["meta"][1]["z"] <= 0.5
    assert sims["flux"].shape == (7, 3899)


def test_mk_calibration_labels_follow_the_index():
    """The F/G/K pools hold archetypes whose index, measured at the configured R on the contract grid,
    falls between the configured boundaries; the legacy pools (stored R = 3000) likewise."""
    tpl = S.templates()
    cfg = S.SimConfig()
    pools = S._mk_pools(tuple(cfg.mk_boundaries), cfg.mk_index_resolution, cfg.colour_min)
    loglam = S.contract_loglam()
    for label in "FGK":
        for t, i in (pools[label][0], pools[label][len(pools[label]) // 2], pools[label][-1]):
            obs = S._observe(tpl.coeff(f"star_{t}")[i] @ tpl.basis(f"star_{t}"), tpl.grid("star"), 0.0,
                             cfg.mk_index_resolution, tpl, loglam)
            assert S.mk_label(S.mk_index(10 ** loglam / 1.000277, obs)) == label
            assert S.star_colour(10 ** loglam, obs) >= cfg.colour_min
    legacy = S.SimConfig.legacy()
    old = S._mk_pools(tuple(legacy.mk_boundaries))
    wave_air = 10 ** tpl.grid("star") / 1.000277
    t, i = old["F"][len(old["F"]) // 2]
    v = S.mk_index(wave_air, tpl.coeff(f"star_{t}")[i] @ tpl.basis(f"star_{t}"))
    assert S.mk_label(v, legacy.mk_boundaries) == "F"
    assert S.mk_label(25.0) == "A" and S.mk_label(5.0) == "F" and S.mk_label(-8.0) == "G" and S.mk_label(-15) == "K"


def test_unknown_spectra_are_bad():
    sims = S.simulate(["UNKNOWN"] * 12, 5)
    hows = {m["unknown"] for m in sims["meta"]}
    assert hows <= {"low_snr", "sky", "broken"} and len(hows) >= 2
    for f, m, meta in zip(sims["flux"], sims["mask"], sims["meta"]):
        assert np.median(f[~m]) > 0          # passes the contract's physical check
        if meta["unknown"] == "low_snr":
            assert meta["snr"] <= 2.0


def test_bad_input(contract):
    good = np.ones(3899)
    with pytest.raises(InsufficientDataError):
        to_contract(np.zeros(3899), contract)                    # all pixels missing
    with pytest.raises(UnphysicalFluxError):
        to_contract(-good, contract)                             # negative flux
    with pytest.raises(NonFiniteFluxError):
        bad = good.copy()
        bad[5] = np.nan
        to_contract(bad, contract)
    with pytest.raises(SpectrumLengthError):
        to_contract(np.ones(3000), contract)
    with pytest.raises(WavelengthCoverageError):
        to_contract(np.ones(100), contract, wavelength=np.linspace(5000, 6000, 100))
    few = good.copy()
    few[: int(0.75 * 3899)] = 0.0
    with pytest.raises(InsufficientDataError):
        to_contract(few, contract)
    empty = to_contract(np.zeros((0, 3899)), contract)
    assert empty.flux.shape == (0, 3899)


@pytest.mark.parametrize("method", ["pca_knn", "pca_knn2"])
def test_trust_score_numpy(method):
    rng = np.random.default_rng(0)
    base = 1 + np.abs(rng.normal(size=(3, 200)))
    train = base[rng.integers(0, 3, 600)] + 0.05 * rng.normal(size=(600, 200))
    val = base[rng.integers(0, 3, 200)] + 0.05 * rng.normal(size=(200, 200))
    arrays, thr = fit_trust(train, val, method=method, k=4, m=400, k_nn=3, quantile=0.95)
    assert features(val, arrays["mean"], arrays["components"]).shape == (200, 5)
    assert ("tilt_reference" in arrays) == (method == "pca_knn2")
    s_in = score(val, arrays)
    assert np.mean(s_in > thr) <= 0.06
    outside = 1 + rng.normal(size=(20, 200))
    assert np.all(score(outside, arrays) > thr)
    assert np.all(score(np.ones((2, 200)), arrays) > thr)               # a featureless line
    assert score(np.zeros((0, 200)), arrays).shape == (0,)


def test_trust_parts_of_pca_knn2():
    """The tilt part ignores a tilt in log flux (the reddening / flux-calibration nuisance); the
    roughness part is 1 at the edges of the training range and only counts outside it."""
    rng = np.random.default_rng(1)
    t = np.linspace(-1, 1, 300)
    x = 1 + 0.3 * np.sin(np.arange(300) / 3.0)[None] + 0.02 * rng.normal(size=(4, 300))
    tilted = x * np.exp(0.8 * t)[None]
    np.testing.assert_allclose(detrend(tilted), detrend(x), atol=1e-9)
    assert np.allclose(np.linalg.norm(detrend(x), axis=1), 1)
    base = 1 + np.abs(rng.normal(size=(3, 300)))
    tilt = lambda n: np.exp(rng.normal(0, 0.3, (n, 1)) * t)  # noqa: E731
    train = base[rng.integers(0, 3, 500)] * tilt(500) + 0.05 * rng.normal(size=(500, 300))
    val = base[rng.integers(0, 3, 200)] * tilt(200) + 0.05 * rng.normal(size=(200, 300))
    arrays, thr = fit_trust(train, val, k=4, m=400, k_nn=3)
    p = score_parts(np.concatenate([np.ones((1, 300)), 1 + rng.normal(size=(1, 300)), train[:50]]), arrays)
    assert set(p) == {"l2", "tilt", "rough"}
    assert p["rough"][0] * float(arrays["rough_scale"]) > thr              # a featureless line
    assert p["rough"][1] * float(arrays["rough_scale"]) > thr              # pure noise
    assert np.all(p["rough"][2:] <= 1.0)                                    # training spectra: inside the range


def test_both_trust_methods_registered():
    from zoo.registry import trust_method
    assert trust_method("pca_knn") is trust_method("pca_knn2")


# ----------------------------------------------------------------------------- exported models
def _exported(name):
    import os
    from zoo.predictor import exported_dir
    if not os.path.exists(os.path.join(exported_dir(name), "card.json")):
        pytest.skip(f"exported/{name} is not there (python -m training.racnet)")
    return zoo.load_model(name, backend="onnx")


@pytest.mark.parametrize("name", ["racnet_ds1", "racnet_ds2", "racnet_fgk"])
def test_exported_loads_and_backends_agree(name):
    onnx = _exported(name)
    card = onnx.card
    from zoo.families.racnet.trust import METHOD_FOR_TASK, METHOD_TPL
    assert card.trust["method"] == METHOD_TPL and card.trust["knn"]["method"] == METHOD_FOR_TASK[card.recipe["task"]]
    assert card.trust["knn"]["false_flag_rate_test"] <= 0.05
    assert card.input.flux_normalization == "l2" and card.input.n_pixels == 3899
    sims = S.simulate(["STAR", "F", "G"], 7)
    a = onnx.predict(sims["flux"], error=sims["error"], mask=sims["mask"])
    assert set(a) >= {"class", "class_probability", "domain_score", "out_of_domain"}
    keras = zoo.load_model(name, backend="keras")
    b = keras.predict(sims["flux"], error=sims["error"], mask=sims["mask"])
    assert list(a["class"]) == list(b["class"])
    np.testing.assert_allclose(a["class_probability"], b["class_probability"], atol=1e-4)
    np.testing.assert_allclose(a["domain_score"], b["domain_score"], rtol=1e-5)
    assert onnx.predict(np.zeros((0, 3899)))["class"].shape == (0,)


def test_fgk_flags_spectra_it_does_not_cover():
    """Galaxies, M stars and white dwarfs (the simulator's probe kinds) given to the F/G/K model come
    back out_of_domain at about the rates docs/racnet.md reports (pca_knn_tpl with the extragalactic
    part; on the selection probes of seed 1001, 80 each: GALAXY 0.81, M 0.78, WD 0.46), F/G/K stars
    rarely (target <= 0.05 on large samples), and so do a flat line and pure noise.  The models trained
    on the survey-calibrated simulator flag white dwarfs less often than the first exports (0.85): the
    real stars' continua widen the training distribution; docs/racnet.md lists it among the misses."""
    m = _exported("racnet_fgk")
    assert m.card.trust["knn"]["method"] == "pca_knn2"
    rates = {}
    for kind in ("GALAXY", "M", "WD", "F", "G", "K"):
        s = S.simulate([kind] * 40, 11)
        rates[kind] = float(np.mean(m.predict(s["flux"], error=s["error"], mask=s["mask"])["out_of_domain"]))
    # WD: ~0.5 on 150-spectrum probes; on 40 the 99.9 % binomial lower bound of 0.5 is ~0.25
    assert rates["GALAXY"] >= 0.65 and rates["M"] >= 0.65 and rates["WD"] >= 0.2, rates
    assert np.mean([rates[k] for k in "FGK"]) <= 0.1, rates
    assert m.predict(np.ones((3, 3899)))["out_of_domain"].all()                 # a flat line
    assert m.predict(1 + np.random.default_rng(0).normal(size=(3, 3899)))["out_of_domain"].all()   # noise


def test_real_lamost_files():
    """Real LAMOST DR1 spectra bundled with the zoo and the tests (zoo/data/lamost, tests/data/lamost_dev;
    no ../shared needed): every answer racnet_ds2 gives in domain for a header STAR is STAR, and the
    header-Unknown spectrum is flagged (tests/test_racnet_trust.py checks DS1 and the flags in detail)."""
    import os
    from importlib import resources
    from zoo.io import read
    dev = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "lamost_dev")
    files = sorted(str(p) for p in (resources.files("zoo") / "data" / "lamost").iterdir() if p.name.endswith(".fits"))
    files += sorted(os.path.join(dev, f) for f in os.listdir(dev) if f.endswith(".fits"))
    assert len(files) >= 11
    m = _exported("racnet_ds2")
    r = m.predict(files)
    header = np.array([read(f).meta["CLASS"] for f in files])
    kept = (header == "STAR") & ~r["out_of_domain"]
    assert kept.sum() >= 4 and np.all(r["class"][kept] == "STAR"), list(zip(header, r["class"], r["out_of_domain"]))
    assert np.all(r["out_of_domain"][header == "Unknown"])


def test_convolution_depths_docs_quote():
    """docs/racnet.md ("Depth, said plainly"): C-Net 8 convolution layers, RC-Net 8 blocks x 3 plus 4
    1x1 shortcuts = 28, RAC-Net one more per attention block = 36."""
    pytest.importorskip("keras")
    import keras
    depth = {arch: sum(isinstance(layer, keras.layers.Conv1D) for layer in zoo.create_model(f"{arch}_ds1").layers)
             for arch in ("cnet", "rcnet", "racnet")}
    assert depth == {"cnet": 8, "rcnet": 28, "racnet": 36}
