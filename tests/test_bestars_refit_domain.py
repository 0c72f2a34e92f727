"""`python -m zoo refit-domain NAME --table TABLE --name NEW`: the network unchanged, the domain score
refit on the user's unlabelled spectra, measured on a held-out part, recorded in the card."""
import csv
import os

import numpy as np
import pytest

import zoo
from zoo.__main__ import main
from zoo.stats import clopper_pearson
from zoo.export import sha256

BASE = "emission_fc"


def test_clopper_pearson_matches_the_beta_quantiles():
    stats = pytest.importorskip("scipy.stats")
    for k, n in ((0, 10), (3, 20), (20, 20), (5, 27), (23, 2940), (1400, 2940)):   # large n: no float overflow
        lo, hi = clopper_pearson(k, n)
        want_lo = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
        want_hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
        assert abs(lo - want_lo) < 1e-9 and abs(hi - want_hi) < 1e-9


def test_refit_domain_on_bundled_lamost_stars(tmp_path, monkeypatch):
    files = zoo.example_files("lamost/*.fits")
    table = tmp_path / "stars.csv"
    with open(table, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "group"])
        for copy in range(3):               # a small archive: every bundled LAMOST star, three times
            for f in files:
                w.writerow([f, f"{os.path.basename(f)}-{copy}"])
    root = tmp_path / "exported"
    monkeypatch.setenv("ZOO_EXPORTED", str(root))
    from zoo.predictor import exported_dir
    import shutil
    shutil.copytree(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "exported", BASE),
                    root / BASE)
    assert main(["refit-domain", BASE, "--table", str(table), "--name", "fc_mine", "--holdout", "0.3"]) == 0
    card = zoo.get_card("fc_mine")
    assert card.recipe["base_model"] == BASE and card.trust["method"] == "emission_pca_union"
    refit = card.trust["refit"]
    assert refit["table_sha256"] == sha256(str(table)) and refit["held_out_spectra"] >= 3
    assert 0 <= refit["false_flag_ci95"][0] <= refit["false_flag_rate_held_out"] <= refit["false_flag_ci95"][1]
    base, new = zoo.load_model(BASE), zoo.load_model("fc_mine")
    from zoo.families.bestars import predict_spectra
    for f in files:                              # the same network: the same classes
        a, b = predict_spectra(base, f), predict_spectra(new, f)
        assert a["halpha_class"][0] == b["halpha_class"][0]
        np.testing.assert_allclose(a["halpha_class_probability"], b["halpha_class_probability"], atol=1e-6)
    assert not any(predict_spectra(new, f)["out_of_domain"][0] for f in files)   # the user's stars: in domain
    w = new.card.input.wavelength()
    noise = 1 + 0.3 * np.random.default_rng(0).normal(size=(20, w.size))
    assert new.predict(noise)["out_of_domain"].all() and new.predict(np.ones((3, w.size)))["out_of_domain"].all()
    assert main(["verify", "fc_mine"]) == 0
    assert main(["refit-domain", "racnet_ds2", "--table", str(table), "--name", "x"]) == 2   # no refit there
    assert exported_dir("fc_mine") == str(root / "fc_mine")
