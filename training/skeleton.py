"""The one training skeleton behind every ``python -m training.<model>``.

A training module holds one :class:`Task` subclass (its data, fit,
evaluation, plots and report) and ends with::

    if __name__ == "__main__":
        main(MyTask)

Every number of the recipe comes from the model's registered
:class:`zoo.recipe.Recipe` (``zoo.registry.get_entry(name).recipe``): the CLI's
flags, defaults and ``--help`` are generated from it (:func:`parser_for`), and
the exported card records the recipe actually used (``asdict(recipe)`` plus
the exact command).  :func:`run` is the same for every model:

    set_determinism -> data -> build -> fit -> evaluate -> plots -> export
    -> after_export -> report

(``--distributed``: build and fit under a ``MultiWorkerMirroredStrategy``, see
:func:`run`) with the same outputs under ``runs/<model>/`` (or ``--out``): ``tensorboard/``,
``history.csv``, ``best.keras``, ``metrics.json``, ``report.md`` and the plots
``<model>_*.png`` (copied to ``docs/img/`` with ``--docs``).  Exports follow
one rule (:func:`export_location`): ``--export-dir``, else (``--quick``)
``<out>_quick/exported/<model>``, else ``$ZOO_EXPORTED/<model>`` when that is
set, else the repository's ``exported/<model>``.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from training import common  # noqa: F401  (sets the TF environment first)
from training.common import machine_description, plot_history, recorded_result, write_json

__all__ = ["Task", "Context", "parser_for", "recipe_from_args", "export_location", "make_context",
           "card_for", "run", "evaluate_exported", "main", "REPO"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Short spellings of the old scripts, kept so that documented commands still work.
ALIASES = {"learning_rate": ("--lr",), "batch_size": ("--batch",)}
#: Flags every model has besides its recipe fields (their ``dest`` names).
COMMON = ("model", "quick", "out", "no_export", "export_dir", "evaluate", "docs", "backend", "distributed",
          "evaluate_sample", "results")
#: ``--evaluate-sample`` draws its data with the recipe's seed plus this (fresh spectra, not the
#: first ones of the training run's simulation), unless ``--seed`` is given.
SAMPLE_SEED_OFFSET = 1000
_ARCH = "arch."   # dest prefix of architecture (factory) flags
_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


# ----------------------------------------------------------------------------- the task
class Task:
    """One model's training: subclass it in ``training/<model>.py`` and override the hooks.

    One instance serves one run, so hooks may keep state on ``self`` (e.g. a
    callback built in :meth:`fit` and read in :meth:`evaluate`).  After
    :meth:`fit`, ``model`` must hold the weights to evaluate and export.
    """

    #: registered model name trained by default (``--model`` picks a variant).
    name: str = ""
    #: first line of ``--help`` (default: the module docstring's first line).
    description: str = ""
    #: recipe overrides of ``--quick`` (a smoke run of about a minute); flags given win.
    quick: dict = {}
    #: extra spellings of recipe flags, ``{field: ("--old-flag",)}``.
    aliases: dict = {}

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Flags that are not recipe numbers (data paths, caches)."""

    def data(self, recipe, ctx: "Context"):
        """Everything the other hooks need (arrays, splits, atlases); may fill ``ctx.data_info``."""
        raise NotImplementedError

    def build(self, recipe, ctx: "Context"):
        """The untrained Keras model (also used for the uncompiled export copy)."""
        return ctx.entry.build(seed=recipe.seed, **ctx.arch_args)

    def fit(self, model, data, recipe, ctx: "Context") -> dict:
        """Compile and train; leave the weights to export in ``model``; return the history
        (``{metric: [per-epoch values]}``); may fill ``ctx.run_info`` (epochs_run, best_epoch...)."""
        raise NotImplementedError

    def evaluate(self, model, data, recipe, ctx: "Context") -> dict:
        """Metrics (JSON-able) of the trained model; all of it goes to ``metrics.json``."""
        raise NotImplementedError

    def plots(self, model, data, metrics, ctx: "Context") -> None:
        """PNGs named ``<ctx.out>/<model>_*.png``; default: the loss curves of ``ctx.history``."""
        if ctx.history:
            plot_history(ctx.history, ctx.path(f"{ctx.model}_history.png"), f"{ctx.model}: training curves")

    def card_metrics(self, metrics: dict, ctx: "Context") -> dict:
        """The part of ``metrics`` the exported card keeps (default: all)."""
        return dict(metrics)

    def complete_card(self, card, data, recipe, ctx: "Context"):
        """The card to export, from ``card`` (preset + recipe + metrics): e.g. set output
        standardization, data description, notes."""
        return card

    def export_flux(self, data, ctx: "Context"):
        """A few real (or test) spectra on the contract grid: ``test_data_set_0`` and the
        ONNX parity check of the export."""
        raise NotImplementedError

    def after_export(self, directory: str, card, data, recipe, ctx: "Context") -> dict:
        """Measurements through the exported artifacts (e.g. real files through the
        Predictor); the dict is added to the card's and ``metrics.json``'s metrics."""
        return {}

    def report(self, metrics: dict, ctx: "Context") -> list[str]:
        """Markdown lines of ``report.md`` (after the skeleton's header)."""
        return []

    def evaluate_exported(self, recipe, ctx: "Context") -> dict:
        """``--evaluate``: score the exported model in ``ctx.export_dir`` (backend
        ``ctx.args.backend``) without training; return metrics (``report`` formats them)."""
        raise NotImplementedError(f"{type(self).__name__} has no --evaluate")

    def reproduction(self, card: dict, cache_dir: str) -> dict:
        """How the committed export's card figures are reproduced without training
        (``tests/test_evaluate_exported.py`` asks every exported model's Task):
        ``{"sample": bool, "flags": [...]}``.  ``sample`` False: ``--evaluate`` rebuilds the
        card's own test set exactly (same simulator and seeds); True: ``--evaluate-sample`` scores
        fresh spectra drawn with the recipe seed + ``SAMPLE_SEED_OFFSET``.  ``flags`` are added to
        the card's command (``cache_dir``: a folder shared by the models of one session)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how its card is reproduced")

    def reproduction_checks(self, card: dict, metrics: dict) -> list:
        """The figures to compare, from ``--evaluate``'s ``metrics`` and the ``card``: a list of
        :class:`Check`.  May raise :class:`ReproductionError` when the export cannot be compared
        (another simulator, another test set)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how its card is reproduced")


class ReproductionError(AssertionError):
    """The committed export and the code that re-scores it no longer describe the same data."""


@dataclass(frozen=True)
class Check:
    """One figure of a card against its re-measurement.

    ``kind`` is ``"accuracy"`` (a share of ``n`` spectra; ``n_card`` those of the card) or ``"mse"``
    (a mean squared error; compared to 0.1 % on the card's own test set); the tolerance follows from
    the kind, the sample sizes and whether the data are the card's own or a fresh sample."""

    label: str
    got: float
    card: float
    n: int
    n_card: int
    kind: str = "accuracy"


@dataclass
class Context:
    """What every hook gets besides the recipe: where to write, how the run was started."""

    model: str                      # registered name trained
    entry: Any                      # its zoo.registry.ModelEntry
    out: str                        # run directory (runs/<model>, or <out>_quick)
    export_dir: str                 # where the model is (or would be) exported
    export: bool                    # False with --no-export
    quick: bool
    docs: bool
    command: str                    # the exact command line
    seed: int
    arch_args: dict                 # factory arguments (entry.defaults and flags)
    args: argparse.Namespace        # all parsed flags (task flags, --backend)
    log: Callable = print
    run_info: dict = field(default_factory=dict)    # epochs_run, best_epoch, stopped_by, ...
    data_info: dict = field(default_factory=dict)   # what the data were (to metrics.json)
    history: dict = field(default_factory=dict)     # filled by the skeleton after fit
    timer: Any = None

    def path(self, *parts) -> str:
        return os.path.join(self.out, *parts)

    @property
    def best_checkpoint(self) -> str:
        return self.path("best.keras")

    def callbacks(self, monitor: str = "val_loss", schedule=None, checkpoint: bool = True) -> list:
        """TensorBoard (``tensorboard/``), ``history.csv``, the best checkpoint
        (``best.keras``), an optional LR schedule and a per-epoch timer."""
        from training.common import EpochTimer, standard_callbacks
        self.timer = EpochTimer.make()
        return standard_callbacks(self.out, monitor=monitor, checkpoint=checkpoint,
                                  schedule=schedule) + [self.timer]

    def load_best(self, model) -> None:
        """Put the best checkpoint's weights into ``model``."""
        import keras
        model.set_weights(keras.saving.load_model(self.best_checkpoint, compile=False).get_weights())


# ----------------------------------------------------------------------------- the CLI
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_value_flag(p, dest: str, name: str, default, help: str, annotation=None, aliases=(),
                    choices=None) -> None:
    """One flag whose type, arity and help follow its default (tuples: nargs, bools: --x/--no-x).

    The default is not set on the namespace (SUPPRESS), so that flags actually
    given can be told from defaults; ``--help`` shows it in the text.
    """
    shown = list(default) if isinstance(default, tuple) else default
    text = f"{help} (default: {shown})" if help else f"default: {shown}"
    kw = dict(dest=dest, default=argparse.SUPPRESS, help=text.replace("%", "%%"))
    opts = [_flag(name), *aliases]
    typ = _TYPES.get(str(annotation)) or (type(default) if default is not None else str)
    if isinstance(default, bool):
        p.add_argument(*opts, action=argparse.BooleanOptionalAction, **kw)
    elif isinstance(default, tuple):
        kinds = {type(v) for v in default}
        elem = int if kinds == {int} else str if kinds == {str} else float
        p.add_argument(*opts, type=elem, nargs=len(default) or "*", metavar=name.upper(), **kw)
    else:
        p.add_argument(*opts, type=typ, choices=choices, metavar=None if choices else name.upper(), **kw)


def _trainable_models(module: str | None, default: str) -> list[str]:
    """Registered names whose command is ``python -m <module> ...`` (the variants this task trains)."""
    from zoo.registry import get_entry, list_models
    names = [n for n in list_models() if module and get_entry(n).command.split()[:3] == ["python", "-m", module]]
    return names or [default]


def parser_for(recipe, description: str = "", *, models=(), default_model: str | None = None,
               arch_defaults: dict | None = None, aliases: dict | None = None,
               add_arguments: Callable | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """The CLI of a recipe: one flag per field of ``recipe`` (defaults and help from the
    dataclass), the factory arguments ``arch_defaults`` (``--init`` ...) and the common flags."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    g = p.add_argument_group("run")
    g.add_argument("--model", default=default_model, choices=list(models) or None,
                   help="registered variant to train; its recipe gives the defaults below")
    g.add_argument("--quick", action="store_true",
                   help="smoke run of about a minute: writes under <out>_quick and exports to "
                        "<out>_quick/exported/<model>, never the committed model")
    g.add_argument("--out", default=None, help="output directory (default: runs/<model>)")
    g.add_argument("--export-dir", default=None,
                   help="where to export (default: $ZOO_EXPORTED/<model> if set, else exported/<model>)")
    g.add_argument("--no-export", action="store_true", help="train and evaluate only")
    g.add_argument("--deterministic", action="store_true",
                   help="bitwise-reproducible run: TensorFlow's oneDNN kernels off (slower training: "
                   "docs/results/onednn_training_speed.json); default: TensorFlow's defaults, seeded but not bitwise reproducible")
    g.add_argument("--evaluate", action="store_true",
                   help="only score the exported model (no training)")
    g.add_argument("--evaluate-sample", action="store_true",
                   help="--evaluate on a small fixed sample: the data of the --quick recipe (fewer spectra, drawn "
                        "with seed + 1000 unless --seed is given) through the exported model (not the quick "
                        "one); writes under <out>_sample")
    g.add_argument("--backend", default="onnx", choices=["keras", "onnx", "savedmodel"],
                   help="backend for --evaluate (default: onnx)")
    g.add_argument("--results", action="store_true",
                   help="with --evaluate: also write docs/results/evaluate_<model>.json (the metrics with the "
                        "command, code version, machine, load and duration), which evaluation/ renders into docs/")
    g.add_argument("--docs", action="store_true",
                   help="also copy the plots into docs/img/ (the committed run; not with --quick)")
    g.add_argument("--distributed", action="store_true",
                   help="train with tf.distribute.MultiWorkerMirroredStrategy; TF_CONFIG in the environment "
                        "names the cluster (without it: one worker). Global batch = the recipe's batch; only "
                        "the chief writes outputs and exports")
    aliases = {**ALIASES, **(aliases or {})}
    r = p.add_argument_group(f"recipe ({type(recipe).__module__}.{type(recipe).__name__})")
    hints = {f.name: f.type for f in dataclasses.fields(recipe)}
    for f in dataclasses.fields(recipe):
        if f.name in COMMON:
            raise ValueError(f"recipe field {f.name!r} clashes with a common flag")
        _add_value_flag(r, f.name, f.name, getattr(recipe, f.name), f.metadata.get("help", ""),
                        hints[f.name], aliases.get(f.name, ()), f.metadata.get("choices"))
    if arch_defaults:
        a = p.add_argument_group("architecture (factory arguments baked into the registered name; "
                                 "changing one trains a different model)")
        for k, v in arch_defaults.items():
            if k not in hints and k not in COMMON and isinstance(v, (bool, int, float, str, tuple)):
                _add_value_flag(a, _ARCH + k, k, v, "factory argument")
    if add_arguments:
        add_arguments(p.add_argument_group("data"))
    from training.finetune import add_arguments as table_arguments
    table_arguments(p)
    return p


def recipe_from_args(base, args: argparse.Namespace, quick: dict | None = None):
    """``base`` with the ``--quick`` overrides, then the recipe flags actually given."""
    names = {f.name for f in dataclasses.fields(base)}
    unknown = set(quick or {}) - names
    if unknown:
        raise ValueError(f"--quick overrides unknown recipe fields {sorted(unknown)}")
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items() if k in names}
    return base.replace(**(quick or {})).replace(**given)


def arch_from_args(defaults: dict, args: argparse.Namespace) -> dict:
    return {**defaults, **{k[len(_ARCH):]: v for k, v in vars(args).items() if k.startswith(_ARCH)}}


def export_location(model: str, *, export_dir: str | None = None, quick: bool = False,
                    out: str | None = None) -> str:
    """The one export rule: ``export_dir``; else (quick) ``<out>/exported/<model>``; else
    :func:`zoo.predictor.exported_dir` (``$ZOO_EXPORTED/<model>`` or the repo's ``exported/<model>``)."""
    if export_dir:
        return export_dir
    if quick:
        return os.path.join(out, "exported", model)
    from zoo.predictor import exported_dir
    return exported_dir(model)


def _module_of(task_cls) -> str | None:
    mod = sys.modules.get(task_cls.__module__)
    spec = getattr(mod, "__spec__", None)
    return spec.name if spec is not None else task_cls.__module__


def make_context(task: Task, argv=None, log: Callable = print):
    """Parse ``argv`` for ``task``: ``(recipe, ctx)``.  ``--model`` is read first; that
    entry's recipe gives the defaults of the full parser."""
    from zoo.registry import get_entry
    argv = list(sys.argv[1:] if argv is None else argv)
    module = _module_of(type(task))
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--model", default=task.name)
    entry = get_entry(pre.parse_known_args(argv)[0].model)
    if entry.recipe is None:
        raise SystemExit(f"{entry.name} has no registered recipe")
    doc = (sys.modules.get(type(task).__module__).__doc__ or "").strip().split("\n")[0]
    p = parser_for(entry.recipe, task.description or doc, models=_trainable_models(module, task.name),
                   default_model=task.name, arch_defaults=entry.defaults, aliases=task.aliases,
                   add_arguments=task.add_arguments, prog=f"python -m {module}" if module else None)
    args = p.parse_args(argv)
    if args.evaluate_sample:
        args.evaluate = True
    recipe = recipe_from_args(entry.recipe, args, task.quick if args.quick or args.evaluate_sample else None)
    if args.evaluate_sample and "seed" not in vars(args):
        recipe = recipe.replace(seed=recipe.seed + SAMPLE_SEED_OFFSET)
    out = os.path.abspath(args.out or os.path.join(REPO, "runs", entry.name)).rstrip("/")
    if args.quick and not out.endswith("_quick"):
        out += "_quick"
    elif args.evaluate_sample and not out.endswith("_sample"):
        out += "_sample"
    ctx = Context(model=entry.name, entry=entry, out=out,
                  export_dir=export_location(entry.name, export_dir=args.export_dir, quick=args.quick, out=out),
                  export=not args.no_export, quick=args.quick, docs=args.docs and not args.quick,
                  command=" ".join(["python -m", module or f"training.{task.name}", shlex.join(argv)]).strip(),
                  seed=recipe.seed, arch_args=arch_from_args(entry.defaults, args), args=args, log=log)
    return recipe, ctx


def card_for(recipe, ctx: Context):
    """The design-time card of this run, built exactly as :meth:`ModelEntry.card` builds it:
    the registered card when recipe and factory arguments are the registered ones, else
    ``asdict(recipe)`` with the exact command and the factory arguments used."""
    entry = ctx.entry
    if recipe == entry.recipe and ctx.arch_args == entry.defaults:
        return entry.card()
    return dataclasses.replace(entry, recipe=recipe, command=ctx.command, defaults=dict(ctx.arch_args)).card()


# ----------------------------------------------------------------------------- the skeleton
def run(task: Task, recipe, ctx: Context) -> dict:
    """Train, evaluate, export and report one model; returns what ``metrics.json`` holds.

    With ``--distributed`` (``ctx.args.distributed``) the model is built, compiled and
    fitted inside ``tf.distribute.MultiWorkerMirroredStrategy().scope()`` (the cluster
    from ``TF_CONFIG``; the tasks' ``model.fit`` on arrays becomes a ``tf.data`` pipeline
    auto-sharded across the workers, with the recipe's batch size as the global batch).
    Every worker runs the same recipe and seed, so the data and the shuffling agree;
    the variables start from the chief's values.  After ``fit`` the weights move into a
    plain (undistributed) copy of the model, which the chief alone evaluates, plots,
    exports and reports; the other workers write their training outputs (checkpoints,
    TensorBoard, history) to a temporary directory that is removed when they finish.
    """
    from training.common import set_determinism
    t_start = time.time()
    strategy = None
    if getattr(ctx.args, "distributed", False):
        from training.common import multi_worker_strategy
        strategy, cluster = multi_worker_strategy(log=ctx.log)   # before any other TF op
        ctx.run_info["distributed"] = dict(cluster)
        if not cluster["is_chief"]:
            return _run_worker(task, recipe, ctx, strategy, cluster)
    stages = {}

    def stage(name, fn, *a):
        t0 = time.time()
        value = fn(*a)
        stages[name] = round(time.time() - t0, 1)
        return value

    os.makedirs(ctx.out, exist_ok=True)
    ctx.log(f"{ctx.model}: {ctx.command}\n  out {ctx.out}"
            + (f"\n  export {ctx.export_dir}" if ctx.export else "  (no export)"))
    set_determinism(recipe.seed)
    data = stage("data", task.data, recipe, ctx)
    with _scope(strategy):
        model = stage("build", task.build, recipe, ctx)
        ctx.history = {k: [float(v) for v in vals] for k, vals in (stage("fit", task.fit, model, data, recipe, ctx)
                                                                   or {}).items()}
    if strategy is not None:
        model = _undistributed(task, model, recipe, ctx)
    if ctx.timer is not None and getattr(ctx.timer, "times", None):
        import numpy as np
        ctx.run_info.setdefault("seconds_per_epoch_median", round(float(np.median(ctx.timer.times)), 2))
        loads = getattr(ctx.timer, "loads", None)
        if loads:
            ctx.run_info["load_average_1min"] = {"start": round(loads[0], 2), "median": round(float(np.median(loads)), 2),
                                                 "max": round(max(loads), 2)}
    metrics = stage("evaluate", task.evaluate, model, data, recipe, ctx)
    stage("plots", task.plots, model, data, metrics, ctx)

    def training_run():
        return {"command": ctx.command, **ctx.run_info, "stage_seconds": dict(stages),
                "wall_time_minutes": round((time.time() - t_start) / 60, 1),
                "machine": machine_description()
                + f"; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}"}

    card = None
    if ctx.export:
        card = stage("export", _export, task, model, data, metrics, recipe, ctx)
        extra = stage("after_export", task.after_export, ctx.export_dir, card, data, recipe, ctx) or {}
        metrics.update(extra)
        card.metrics.update(extra)
        card.metrics["training_run"] = training_run()
        card.to_json(os.path.join(ctx.export_dir, "card.json"))
        if ctx.quick:   # a smoke run keeps no SavedModel (large; the full run's export writes it)
            shutil.rmtree(os.path.join(ctx.export_dir, "saved_model"), ignore_errors=True)
        ctx.log(f"exported to {ctx.export_dir}")

    result = {"model": ctx.model, "command": ctx.command, "recipe": recipe.to_dict(),
              "architecture_args": dict(ctx.arch_args), "training_run": training_run(),
              "data": ctx.data_info, "metrics": metrics, "history": ctx.history,
              "exported_to": ctx.export_dir if ctx.export else None}
    write_json(result, ctx.path("metrics.json"))
    _write_report(task, metrics, ctx, result["training_run"])
    if ctx.docs:
        dest = os.path.join(REPO, "docs", "img")
        os.makedirs(dest, exist_ok=True)
        for f in sorted(glob.glob(ctx.path(f"{ctx.model}_*.png"))):
            shutil.copy(f, dest)
    ctx.log(f"done in {(time.time() - t_start) / 60:.1f} min; outputs in {ctx.out}")
    return result


def _scope(strategy):
    import contextlib
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def _undistributed(task: Task, model, recipe, ctx: Context):
    """A plain copy of a model built under a strategy (its predict runs on this worker alone)."""
    plain = task.build(recipe, ctx)
    plain.set_weights(model.get_weights())
    return plain


def _run_worker(task: Task, recipe, ctx: Context, strategy, cluster: dict) -> dict:
    """A non-chief worker of ``--distributed``: the same data, build and fit as the chief (the
    collective steps need every worker), its outputs in a temporary directory, then nothing:
    the chief evaluates, exports and reports."""
    import tempfile
    from training.common import set_determinism
    tmp = tempfile.mkdtemp(prefix=f"{ctx.model}_{cluster['task_type']}{cluster['task_index']}_")
    ctx.out, ctx.export_dir, ctx.export, ctx.docs = tmp, os.path.join(tmp, "exported", ctx.model), False, False
    ctx.log(f"{ctx.model}: {ctx.command}\n  {cluster['task_type']} {cluster['task_index']} (not the chief): "
            f"training outputs in {tmp} (removed at the end); the chief writes the run and the export")
    t0 = time.time()
    try:
        set_determinism(recipe.seed)
        data = task.data(recipe, ctx)
        with strategy.scope():
            model = task.build(recipe, ctx)
            history = task.fit(model, data, recipe, ctx) or {}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ctx.log(f"{cluster['task_type']} {cluster['task_index']}: done in {(time.time() - t0) / 60:.1f} min")
    return {"model": ctx.model, "command": ctx.command, "distributed": dict(cluster), "exported_to": None,
            "history": {k: [float(v) for v in vals] for k, vals in history.items()}}


def _export(task: Task, model, data, metrics: dict, recipe, ctx: Context):
    """Export an uncompiled copy of ``model`` (no optimizer state in ``model.keras``) with the
    run's card: :func:`card_for`, the task's card metrics, completed by the task."""
    from zoo.export import export_model
    card = card_for(recipe, ctx).replace(metrics=task.card_metrics(metrics, ctx))
    card = task.complete_card(card, data, recipe, ctx)
    clean = task.build(recipe, ctx)
    clean.set_weights(model.get_weights())
    return export_model(clean, card, ctx.export_dir, task.export_flux(data, ctx), saved_model=True)


def _write_report(task: Task, metrics: dict, ctx: Context, training_run: dict, title: str = "run report",
                  filename: str = "report.md") -> None:
    md = [f"# {ctx.model}: {title}", "", f"command: `{ctx.command}`", "",
          f"wall time {training_run.get('wall_time_minutes', 0):.1f} min on {training_run.get('machine', '')}", ""]
    md += list(task.report(metrics, ctx))
    text = "\n".join(md) + "\n"
    with open(ctx.path(filename), "w") as fh:
        fh.write(text)
    ctx.log(text)


def evaluate_exported(task: Task, recipe, ctx: Context) -> dict:
    """``--evaluate``: score the exported model without training (writes ``evaluation.json/.md``).

    ``--evaluate-sample``: the same on the data of the task's ``--quick`` recipe drawn with the
    seed + :data:`SAMPLE_SEED_OFFSET` (a small fixed sample of the distribution the card's
    metrics were measured on, none of it the training run's first spectra), for a fast check
    of the export against its card (``tests/test_evaluate_exported.py``)."""
    t0, load_before = time.time(), round(os.getloadavg()[0], 2)
    os.makedirs(ctx.out, exist_ok=True)
    metrics = task.evaluate_exported(recipe, ctx)
    info = {"command": ctx.command, "exported_dir": ctx.export_dir, "backend": ctx.args.backend,
            "sample": bool(getattr(ctx.args, "evaluate_sample", False)),
            **({"recipe": recipe.to_dict()} if getattr(ctx.args, "evaluate_sample", False) else {}),
            "wall_time_minutes": round((time.time() - t0) / 60, 1), "machine": machine_description()}
    write_json({"evaluation": info, "metrics": metrics}, ctx.path("evaluation.json"))
    if getattr(ctx.args, "results", False):
        write_json(recorded_result(ctx.command, t0, load_before, {"backend": ctx.args.backend,
                                                                  "sample": info["sample"], "metrics": metrics}),
                   os.path.join(REPO, "docs", "results", f"evaluate_{os.path.basename(ctx.export_dir.rstrip(os.sep))}.json"))
    _write_report(task, metrics, ctx, info, title=f"evaluation of {ctx.export_dir} ({ctx.args.backend})",
                  filename="evaluation.md")
    return metrics


def _deterministic_switch(argv) -> None:
    """``--deterministic``: bitwise-reproducible TensorFlow for this run (oneDNN kernels off, which
    costs training time: scripts/onednn_training_speed.py measures it).  The switch is
    read when TensorFlow is imported, so it is set here, before anything imports it."""
    args = sys.argv[1:] if argv is None else list(argv)
    if "--deterministic" not in args:
        return
    if "tensorflow" in sys.modules and os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        import warnings
        warnings.warn("--deterministic: TensorFlow was imported before the switch could be set; "
                      "run `python -m training.<model> --deterministic` in a fresh process", stacklevel=2)
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"


def main(task_cls, argv=None):
    """``python -m training.<model>``: parse, then train (:func:`run`) or ``--evaluate``."""
    _deterministic_switch(argv)
    task = task_cls()
    recipe, ctx = make_context(task, argv)
    if getattr(ctx.args, "train_table", None):
        from training.finetune import run_table
        return run_table(task, recipe, ctx)
    if ctx.args.evaluate:
        return evaluate_exported(task, recipe, ctx)
    return run(task, recipe, ctx)


def run_or_reuse(task_cls, argv: list, reuse: bool = False) -> tuple[dict, bool]:
    """Train ``task_cls`` with ``argv`` (``--out`` required) and return its ``metrics.json`` and False;
    with ``reuse``, return the ``metrics.json`` already in ``--out`` and True when the same command wrote
    it (experiment scripts that collect a long run's results without repeating it)."""
    import json
    out = argv[argv.index("--out") + 1]
    path = os.path.join(out, "metrics.json")
    command = f"python -m training.{task_cls.name} " + " ".join(argv)
    reused = False
    if reuse and os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            reused = json.load(fh).get("command") == command
    if not reused:
        main(task_cls, argv)
    with open(path, encoding="utf-8") as fh:
        return json.load(fh), reused


def phase1_numbers(m: dict) -> dict:
    """A ``--no-export`` run's own evaluation of its best checkpoint (``metrics.phase1``, test split
    included; the evaluate stage adds nothing without fine-tuning), as an experiment records it."""
    p1 = m["metrics"]["phase1"]
    return {"standardized_mse": p1["mse"], "test_scatter": p1["scatter_test"],
            "phase1": {k: p1.get(k) for k in ("epochs", "best_epoch", "stopped_by", "minutes")}}


def record_experiment(experiment: str, script: str, task_cls, argv: list, results_path: str, numbers,
                      reuse: bool = False) -> dict:
    """An experiment that is one training run: train (or, with ``reuse``, collect) ``task_cls`` with
    ``argv`` from the repository root, and write ``results_path`` (docs/results/*.json) with the frame of
    :func:`training.common.recorded_result`, the training command, whether the run was reused,
    ``numbers(metrics_json)`` and the run's own ``training_run`` record."""
    from training.common import recorded_result, write_json
    t0, load0 = time.time(), round(os.getloadavg()[0], 2)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(repo)
    m, reused = run_or_reuse(task_cls, argv, reuse=reuse)
    res = recorded_result(script + (" --reuse" if reused else ""), t0, load0, {
        "experiment": experiment, "training_command": m["command"], "reused_run": reused, **numbers(m),
        "training_run": m.get("training_run")})
    write_json(res, results_path)
    print(f"wrote {os.path.relpath(results_path, repo)} ({res['duration_s']:.0f} s)")
    return res
