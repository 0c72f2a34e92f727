"""A tiny training step lowers the loss; the shared schedule and probe behave."""
import numpy as np

from training.common import early_stopping_probe, step_decay


def test_step_decay_halves_every_50():
    s = step_decay(0.01, 0.5, 50)
    assert [s(0), s(49), s(50), s(149), s(150)] == [0.01, 0.01, 0.005, 0.0025, 0.00125]


def test_tiny_training_lowers_loss():
    import keras

    import zoo
    from zoo.families.mk.atlas import load_atlas, prune_complete
    from training.autoclassmk import HEADS, build_datasets
    card = zoo.get_card("autoclassmk", trained=False)
    sets, *_ = build_datasets(card, n_train=4, n_val=1, n_test=1, seed=0)
    keras.utils.set_random_seed(0)
    m = zoo.create_model("autoclassmk", hidden=(32,), seed=0)
    m.compile(optimizer=keras.optimizers.SGD(0.01), loss={h: "sparse_categorical_crossentropy" for h in HEADS},
              loss_weights={"spectral_class": 2 / 3, "luminosity_class": 1 / 3})
    x, y = sets["train"]["x"], sets["train"]["y"]
    before = m.evaluate(x, y, verbose=0)[0]
    m.fit(x, y, batch_size=200, epochs=3, verbose=0)
    after = m.evaluate(x, y, verbose=0)[0]
    assert after < before


def test_early_stopping_probe_records_without_stopping():
    import keras
    probe = early_stopping_probe(patience=2)
    m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    probe.set_model(m)
    for epoch, v in enumerate([3.0, 2.0, 2.5, 2.6, 1.0]):
        probe.on_epoch_end(epoch, {"val_loss": v})
    s = probe.summary()
    assert s["would_stop_at_epoch"] == 4 and s["best_epoch_before_stop"] == 2
    assert probe.weights_at_stop is not None


def test_quick_runs_never_export_over_the_committed_models(tmp_path):
    import os

    from training import apogeenet, common, starnet
    from training.apogee_data import parse_args
    repo_exported = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "exported")
    for mod, name in ((apogeenet, "apogeenet"), (starnet, "starnet")):
        args = parse_args(mod.parser(), ["--quick"], patience=5)
        assert args.out.endswith("_quick")
        assert common.export_dir(args, name) == os.path.join(args.out, "exported", name)
        full = parse_args(mod.parser(), [], patience=5)
        assert common.export_dir(full, name) == os.path.join(repo_exported, name)
    args = common.base_parser("x", 1, 0.1, 1, str(tmp_path / "run")).parse_args(["--quick"])
    common.quick_out(args)
    common.quick_out(args)   # idempotent
    assert args.out == str(tmp_path / "run_quick")
    assert common.export_dir(args, "autoclassmk").startswith(args.out)
    args.export_dir = str(tmp_path / "elsewhere")
    assert common.export_dir(args, "autoclassmk") == str(tmp_path / "elsewhere")
