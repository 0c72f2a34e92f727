"""The training skeleton: CLI generated from the recipe, one export rule, card records the recipe;
a tiny training step lowers the loss; the shared schedule and probe behave."""
import dataclasses
import json
import os

import numpy as np
import pytest

from training import skeleton
from training.common import early_stopping_probe, step_decay
from zoo.recipe import Recipe, rfield

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class _Toy(Recipe):
    head_weights: tuple = rfield((2.0, 1.0), "two weights")
    reduce_lr: tuple = rfield((), "empty tuple: any number of values")
    stratified: bool = rfield(False, "a switch, 100 % off")
    optimizer: str = rfield("sgd", "a string", choices=("sgd", "adam"))


def _tasks():
    from training.apogeenet import ApogeeNet
    from training.autoclassmk import AutoClassMK
    from training.starnet import StarNet
    return AutoClassMK, ApogeeNet, StarNet


# ----------------------------------------------------------------------------- parser from the recipe
def test_parser_is_generated_from_the_recipe():
    r = _Toy(epochs=7, learning_rate=0.5)
    p = skeleton.parser_for(r, "toy")
    helptext = " ".join(p.format_help().split())
    for f in dataclasses.fields(r):
        assert skeleton._flag(f.name) in helptext, f.name
        assert f.metadata["help"] in helptext, f.name
    assert "(default: 7)" in helptext and "--no-stratified" in helptext
    assert skeleton.recipe_from_args(r, p.parse_args([])) == r            # a field change is the default
    got = skeleton.recipe_from_args(r, p.parse_args(
        ["--lr", "0.1", "--batch", "3", "--head-weights", "1", "4", "--reduce-lr", "0.5", "2",
         "--stratified", "--optimizer", "adam"]))
    assert got == r.replace(learning_rate=0.1, batch_size=3, head_weights=(1.0, 4.0), reduce_lr=(0.5, 2.0),
                            stratified=True, optimizer="adam")
    with pytest.raises(SystemExit):
        p.parse_args(["--optimizer", "rmsprop"])
    # --quick overrides apply first; flags given win over them
    q = skeleton.recipe_from_args(r, p.parse_args(["--epochs", "2"]), quick={"epochs": 1, "batch_size": 5})
    assert (q.epochs, q.batch_size) == (2, 5)


@pytest.mark.parametrize("i", range(3))
def test_every_training_module_lists_every_recipe_field(i, capsys):
    task = _tasks()[i]()
    from zoo.registry import get_entry
    entry = get_entry(task.name)
    with pytest.raises(SystemExit):
        skeleton.make_context(task, ["--help"])
    out = capsys.readouterr().out
    for f in dataclasses.fields(entry.recipe):
        assert skeleton._flag(f.name) in out
    for k in entry.defaults:
        assert skeleton._flag(k) in out
    recipe, ctx = skeleton.make_context(task, [])
    assert recipe == entry.recipe and ctx.arch_args == entry.defaults
    assert skeleton.card_for(recipe, ctx).recipe == entry.card().recipe
    assert set(task.quick) <= {f.name for f in dataclasses.fields(recipe)}


def test_model_flag_takes_the_variants_recipe():
    from training.autoclassmk import AutoClassMK
    from zoo.registry import get_entry
    recipe, ctx = skeleton.make_context(AutoClassMK(), ["--model", "autoclassmk_broad"])
    assert recipe == get_entry("autoclassmk_broad").recipe != get_entry("autoclassmk").recipe
    assert ctx.model == "autoclassmk_broad" and ctx.out.endswith(os.path.join("runs", "autoclassmk_broad"))
    assert skeleton.card_for(recipe, ctx).recipe == get_entry("autoclassmk_broad").card().recipe


def test_a_changed_recipe_is_recorded_with_its_command():
    from training.apogeenet import ApogeeNet
    recipe, ctx = skeleton.make_context(ApogeeNet(), ["--momentum", "0", "--input-shift", "0", "--no-export"])
    assert recipe.momentum == 0.0 and ctx.arch_args["input_shift"] == 0.0
    card = skeleton.card_for(recipe, ctx)
    assert card.recipe == {**recipe.to_dict(), "command": ctx.command,
                           "architecture_args": {"init": "he_normal", "input_shift": 0.0}}
    assert ctx.command == "python -m training.apogeenet --momentum 0 --input-shift 0 --no-export"


# ----------------------------------------------------------------------------- one export rule
@pytest.mark.parametrize("i", range(3))
def test_quick_never_exports_into_exported_and_zoo_exported_is_honoured(i, tmp_path, monkeypatch):
    task = _tasks()[i]()
    name = task.name
    monkeypatch.delenv("ZOO_EXPORTED", raising=False)
    _, full = skeleton.make_context(task, [])
    assert full.export_dir == os.path.join(REPO, "exported", name)
    assert full.out == os.path.join(REPO, "runs", name)
    _, quick = skeleton.make_context(task, ["--quick"])
    assert quick.out == os.path.join(REPO, "runs", name + "_quick")
    assert quick.export_dir == os.path.join(quick.out, "exported", name)
    _, again = skeleton.make_context(task, ["--quick", "--out", quick.out])
    assert again.out == quick.out                       # idempotent
    monkeypatch.setenv("ZOO_EXPORTED", str(tmp_path / "zoo"))
    _, env = skeleton.make_context(task, [])
    assert env.export_dir == str(tmp_path / "zoo" / name)
    _, env_quick = skeleton.make_context(task, ["--quick"])
    assert env_quick.export_dir.startswith(env_quick.out)
    _, given = skeleton.make_context(task, ["--export-dir", str(tmp_path / "there")])
    assert given.export_dir == str(tmp_path / "there")


def test_tiny_quick_run_writes_the_standard_outputs_and_records_its_recipe(tmp_path, monkeypatch):
    """One tiny real run of the skeleton (AutoClassMK): outputs, export, card, --evaluate."""
    from training.autoclassmk import AutoClassMK
    monkeypatch.setenv("ZOO_EXPORTED", str(tmp_path / "zoo_exported"))
    committed = os.path.join(REPO, "exported", "autoclassmk", "card.json")
    before = os.path.getmtime(committed) if os.path.exists(committed) else None
    argv = ["--quick", "--epochs", "1", "--variants", "2", "--val-variants", "1", "--test-variants", "1",
            "--out", str(tmp_path / "run")]
    result = skeleton.main(AutoClassMK, argv)
    out = str(tmp_path / "run_quick")
    for f in ("metrics.json", "report.md", "history.csv", "best.keras", "autoclassmk_curves.png",
              "autoclassmk_lc_confusion.png", "autoclassmk_sc_per_lc.png"):
        assert os.path.exists(os.path.join(out, f)), f
    assert os.listdir(os.path.join(out, "tensorboard"))
    exported = os.path.join(out, "exported", "autoclassmk")
    assert result["exported_to"] == exported
    assert not os.path.exists(tmp_path / "zoo_exported")
    if before is not None:
        assert os.path.getmtime(committed) == before
    with open(os.path.join(exported, "card.json")) as fh:
        card = json.load(fh)
    from zoo.families.autoclassmk.recipes import PAPER
    recipe = PAPER.replace(epochs=1, variants=2, val_variants=1, test_variants=1)
    command = "python -m training.autoclassmk " + " ".join(argv)
    assert card["recipe"] == {**json.loads(json.dumps(dataclasses.asdict(recipe))), "command": command,
                              "architecture_args": {"init": "normal"}}
    assert card["metrics"]["training_run"]["command"] == command
    assert not os.path.exists(os.path.join(exported, "saved_model"))
    with open(os.path.join(out, "metrics.json")) as fh:
        assert json.load(fh)["recipe"] == recipe.to_dict()
    # --evaluate scores that export (the same export rule) without training
    ev = skeleton.main(AutoClassMK, argv + ["--evaluate", "--backend", "onnx"])
    # ... on the run's own test set: the card's figures (measured with Keras at export) come back,
    # up to one prediction flipping between Keras and ONNX Runtime on a near tie
    n = ev["n_test"]
    assert n == 98 * 1                                   # libr18_27's 98 spectra x --test-variants 1
    for head in ("spectral_class", "luminosity_class"):
        got, recorded = ev["exported"][head]["accuracy"], card["metrics"][head]["accuracy"]
        assert abs(got - recorded) <= 1 / n, (head, got, recorded, n)
    assert os.path.exists(os.path.join(out, "evaluation.json"))


# ----------------------------------------------------------------------------- shared pieces
def test_step_decay_halves_every_n_epochs():
    s = step_decay(0.01, 0.5, 50)
    assert [s(0), s(49), s(50), s(149), s(150)] == [0.01, 0.01, 0.005, 0.0025, 0.00125]


def test_tiny_training_lowers_loss():
    import keras

    import zoo
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
    assert np.isfinite(s["best_epoch_before_stop"])
