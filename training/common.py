"""Pieces the training modules share: seeding, the multi-worker strategy, schedules, callbacks,
reports, plots.

The run itself (CLI, outputs, export) is :mod:`training.skeleton`.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow's oneDNN kernels stay at TensorFlow's default (on): training runs at full speed.
# Bitwise reproducibility is `--deterministic` (training.skeleton), which turns them off for
# that run only, before TensorFlow is imported; nothing here sets the switch for a process.

import numpy as np  # noqa: E402

__all__ = ["set_determinism", "cluster_spec", "multi_worker_strategy", "step_decay", "early_stopping_probe",
           "EpochTimer", "standard_callbacks",
           "classification_summary", "plot_history", "plot_confusion", "draw_confusion", "binom_ci",
           "write_json", "machine_description"]


def set_determinism(seed: int) -> None:
    """Seed Python, NumPy and TF and make TF ops deterministic."""
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def cluster_spec(environ=None) -> dict:
    """This process's place in a multi-worker cluster, from ``TF_CONFIG`` (the JSON that
    ``tf.distribute.cluster_resolver.TFConfigClusterResolver`` reads).

    Returns ``{"tf_config": bool, "workers": n, "task_type", "task_index", "is_chief"}``.
    The chief is the ``chief`` task when the cluster names one, else ``worker`` 0 (the
    ``MultiWorkerMirroredStrategy`` convention); without ``TF_CONFIG`` this process is a
    single worker and the chief.
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not raw:
        return {"tf_config": False, "workers": 1, "task_type": "worker", "task_index": 0, "is_chief": True}
    conf = json.loads(raw)
    cluster, task = conf.get("cluster") or {}, conf.get("task") or {}
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    if kind not in ("chief", "worker"):
        raise SystemExit(f"TF_CONFIG task type {kind!r}: --distributed runs 'chief' and 'worker' tasks only")
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    chief = kind == "chief" or (kind == "worker" and index == 0 and not cluster.get("chief"))
    return {"tf_config": True, "workers": workers, "task_type": kind, "task_index": index, "is_chief": chief}


def multi_worker_strategy(log=print):
    """``(tf.distribute.MultiWorkerMirroredStrategy, cluster_spec())`` for ``--distributed``.

    ``TF_CONFIG`` in the environment decides the cluster; without it the strategy
    runs one worker (all local devices) and says so.  Create it before any other
    TensorFlow op of the process (collective ops are configured at startup).
    """
    import tensorflow as tf
    info = cluster_spec()
    if not info["tf_config"]:
        log("--distributed without TF_CONFIG: training on this machine only (a single-worker "
            "MultiWorkerMirroredStrategy); set TF_CONFIG on every worker to train on several")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _patch_keras_symbolic_build()
    info["replicas"] = int(strategy.num_replicas_in_sync)
    if info["tf_config"]:
        log(f"--distributed: {info['task_type']} {info['task_index']} of {info['workers']} workers "
            f"({info['replicas']} replicas in sync){' (chief)' if info['is_chief'] else ''}")
    return strategy, info


def _patch_keras_symbolic_build() -> None:
    """Work around Keras 3's ``TensorFlowTrainer._maybe_symbolic_build`` under a multi-worker strategy.

    Before the first step, ``fit``/``evaluate`` take one batch of the distributed dataset
    and average it across replicas with ``strategy.reduce("MEAN", ...)``, only to learn its
    shapes and dtypes; with ``MultiWorkerMirroredStrategy`` across processes that reduce
    fails ("Attempt to convert a value (PerReplica...) ... to a Tensor", Keras 3.15).  The
    patch takes this worker's first local replica batch instead (same shapes, no collective).
    Likewise each step's logs (scalar losses and metrics) are averaged across workers with
    ``strategy.reduce("MEAN", v, axis=0)``, which fails on a scalar ("Invalid reduction
    dimension 0 for input with 0 dimensions"); the patched ``reduce_per_replica`` averages
    scalars with ``axis=None``.  Idempotent; only multi-worker strategies take the new paths.
    """
    try:
        from keras.src import tree
        from keras.src.backend.tensorflow import trainer as tf_trainer
        from keras.src.backend.tensorflow.trainer import TensorFlowTrainer
    except ImportError:  # pragma: no cover  (another Keras layout: leave it alone)
        return
    if getattr(TensorFlowTrainer._maybe_symbolic_build, "_zoo_patched", False):
        return
    import tensorflow as tf
    original = TensorFlowTrainer._maybe_symbolic_build
    original_reduce = tf_trainer.reduce_per_replica

    def _local(strategy, v):
        return strategy.experimental_local_results(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v

    def reduce_per_replica(values, strategy, reduction):
        # the step's logs are scalars: Keras reduces them with axis=0 across workers, which fails
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            def _mean(v):
                rank = getattr(_local(strategy, v).shape, "rank", 0)
                return strategy.reduce("MEAN", v, axis=0 if rank else None)
            return tree.map_structure(_mean, values)
        return original_reduce(values, strategy, reduction)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None or iterator is None:
            return original(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            batch = next(it)
            break
        else:
            return None
        local = tree.map_structure(lambda v: _local(self.distribute_strategy, v), batch)
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=local)

    _maybe_symbolic_build._zoo_patched = True
    TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica


def step_decay(initial: float, drop: float, every: int):
    """Learning rate ``initial * drop ** floor(epoch / every)`` (``drop=0.5``: halved every ``every`` epochs)."""
    def schedule(epoch, lr=None):
        return float(initial * drop ** (epoch // every))
    return schedule


def _make_probe_class():
    import keras

    class _Probe(keras.callbacks.Callback):
        """Records when early stopping *would* fire, without stopping.

        Tracks ``monitor`` with ``patience`` and ``min_delta`` (an improvement
        must exceed it, as in ``keras.callbacks.EarlyStopping``); at the epoch it would stop it keeps
        a copy of the best weights so far, so one run answers "does early
        stopping reach the same accuracy sooner?".  ``stop=True`` makes it a
        real early stop (training ends there).
        """

        def __init__(self, patience, monitor="val_loss", min_delta=0.0, stop=False):
            super().__init__()
            self.monitor, self.patience, self.min_delta, self.stop = monitor, patience, min_delta, stop
            self.best, self.best_epoch, self.wait = np.inf, -1, 0
            self.stopped_epoch, self.best_weights, self.weights_at_stop = None, None, None

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(self.monitor)
            if value is None or self.stopped_epoch is not None:
                return
            if value < self.best - self.min_delta:
                self.best, self.best_epoch, self.wait = value, epoch, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.weights_at_stop = self.best_weights
                    if self.stop:  # a real early stop, not only a probe
                        self.model.stop_training = True

        def summary(self):
            return {"monitor": self.monitor, "patience": self.patience, "min_delta": self.min_delta,
                    "stopped_training": bool(self.stop and self.stopped_epoch is not None),
                    "would_stop_at_epoch": None if self.stopped_epoch is None else self.stopped_epoch + 1,
                    "best_epoch_before_stop": self.best_epoch + 1}
    return _Probe


def early_stopping_probe(**kw):
    return _make_probe_class()(**kw)


class EpochTimer:
    """Wall time per epoch and the 1-minute load average at each epoch end, as a Keras callback
    (built lazily): the training run records both (card ``metrics.training_run``)."""

    @staticmethod
    def make():
        import keras

        class _T(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.times, self.t0, self.loads = [], time.time(), [os.getloadavg()[0]]

            def on_epoch_begin(self, epoch, logs=None):
                self._e = time.time()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.time() - self._e)
                self.loads.append(os.getloadavg()[0])
        return _T()


def standard_callbacks(outdir: str, monitor: str = "val_loss", checkpoint: bool = True,
                       schedule=None, patience: int | None = None):
    """TensorBoard logs, best checkpoint, optional LR schedule and early stopping."""
    import keras
    cbs = [keras.callbacks.TensorBoard(log_dir=os.path.join(outdir, "tensorboard"), histogram_freq=0,
                                       write_graph=False),
           keras.callbacks.CSVLogger(os.path.join(outdir, "history.csv"))]
    if checkpoint:
        cbs.append(keras.callbacks.ModelCheckpoint(os.path.join(outdir, "best.keras"), monitor=monitor,
                                                   save_best_only=True))
    if schedule is not None:
        cbs.append(keras.callbacks.LearningRateScheduler(schedule))
    if patience is not None:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=patience,
                                                 restore_best_weights=True))
    return cbs


def classification_summary(y_true, y_pred, labels) -> dict:
    """Accuracy and macro precision / recall / F1 (scikit-learn), plus the text report."""
    from sklearn.metrics import accuracy_score, classification_report, precision_recall_fscore_support
    present = [l for l in labels if l in set(y_true) | set(y_pred)]
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, average="macro",
                                                 zero_division=0)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "macro_precision": float(p),
            "macro_recall": float(r), "macro_f1": float(f),
            "report": classification_report(y_true, y_pred, labels=present, zero_division=0)}


def plot_history(history: dict, path: str, title: str, keys=None) -> None:
    """Loss / metric curves per epoch, train vs validation (paper-style Figs. 3-4)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = keys or sorted({k.removeprefix("val_") for k in history if k != "learning_rate"})
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False)
    for ax, k in zip(axes[0], keys):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + k in history:
                ax.plot(np.arange(1, len(history[prefix + k]) + 1), history[prefix + k], style,
                        label=("validation " if prefix else "train ") + k)
        ax.set_xlabel("epoch")
        ax.set_title(k, fontsize=9)
        ax.legend(fontsize=7)
        if "loss" in k:
            ax.set_yscale("log")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_confusion(ax, cm, labels, *, normalize: bool = True, cell: str = "{pct:.0%}", fontsize: int = 7,
                   tick_fontsize: int = 7, vmax=1.0, rotate: bool = False):
    """Draw a confusion matrix ``cm`` (rows true, columns predicted) on ``ax``: colours from the
    row-normalized matrix (or the counts), each cell annotated by ``cell`` formatted with ``n`` (the
    count) and ``pct`` (the row fraction); colour scale 0..``vmax`` (``None``: matplotlib's own).
    Shared by every training run and docs figure.  Returns the image."""
    cm = np.asarray(cm)
    frac = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    shown = frac if normalize else cm
    im = ax.imshow(shown, cmap="Blues", vmin=None if vmax is None else 0, vmax=vmax)
    top = shown.max() if vmax is None else vmax
    if cell and len(labels) <= 10:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, cell.format(n=int(cm[i, j]), pct=frac[i, j]), ha="center", va="center",
                        fontsize=fontsize, color="white" if shown[i, j] > top / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=90 if rotate else 0, fontsize=tick_fontsize)
    ax.set_yticks(range(len(labels)), labels, fontsize=tick_fontsize)
    return im


def plot_confusion(y_true, y_pred, labels, path: str, title: str, normalize: bool = False) -> np.ndarray:
    """Confusion matrix (rows true, columns predicted) as a PNG; returns the matrix."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    size = 2.2 + 0.28 * len(labels)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = draw_confusion(ax, cm, labels, normalize=normalize, cell="{n}", fontsize=10, vmax=None,
                        rotate=len(labels) > 6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return cm


def binom_ci(k: int, n: int) -> list:
    """Clopper-Pearson 95 % interval of k successes in n, rounded to 4 places
    (:func:`zoo.stats.clopper_pearson`)."""
    from zoo.stats import clopper_pearson
    return [round(v, 4) if v == v else v for v in clopper_pearson(k, n)]


def write_json(obj, path: str) -> None:
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(type(o))
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=2, default=default)
        fh.write("\n")


def _gpus() -> list[str]:
    """Names of the GPUs TensorFlow sees, when TensorFlow is already imported (else none)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return []
    try:
        return [tf.config.experimental.get_device_details(d).get("device_name", d.name)
                for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # pragma: no cover  (a description must never fail a run)
        return []


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpus = _gpus()
    gpu = ", ".join(gpus) if gpus else "no GPU"
    return f"{os.cpu_count()}-core {cpu}, {gpu}, Python {platform.python_version()}"


def recorded_result(command: str, t0: float, load_before: float, numbers: dict) -> dict:
    """A results file's frame (docs/results/*.json, rendered by :mod:`evaluation`): the command, the
    code version (git commit of the clone), machine, CPUs, load before and after, duration, date."""
    import subprocess
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        rev = None
    return {"command": command, "code_version": rev, "machine": machine_description(),
            "cpu_count": os.cpu_count(), "load_before": load_before, "load_after": round(os.getloadavg()[0], 2),
            "duration_s": round(time.time() - t0, 1), "date": time.strftime("%Y-%m-%d %H:%M"), **numbers}
