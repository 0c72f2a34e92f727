"""Pieces the training modules share: seeding, schedules, callbacks, reports, plots.

The run itself (CLI, outputs, export) is :mod:`training.skeleton`.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# A fixed oneDNN setting is part of bitwise reproducibility (DEVELOPERS.md).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

__all__ = ["set_determinism", "step_decay", "early_stopping_probe", "EpochTimer", "standard_callbacks",
           "classification_summary", "plot_history", "plot_confusion",
           "write_json", "machine_description"]


def set_determinism(seed: int) -> None:
    """Seed Python, NumPy and TF and make TF ops deterministic."""
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


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
    """Wall time per epoch, as a Keras callback (built lazily)."""

    @staticmethod
    def make():
        import keras

        class _T(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.times, self.t0 = [], time.time()

            def on_epoch_begin(self, epoch, logs=None):
                self._e = time.time()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.time() - self._e)
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


def plot_confusion(y_true, y_pred, labels, path: str, title: str, normalize: bool = False) -> np.ndarray:
    """Confusion matrix (rows true, columns predicted) as a PNG; returns the matrix."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    size = 2.2 + 0.28 * len(labels)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(shown, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 6 else 0, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    if len(labels) <= 10:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{cm[i, j]}", ha="center", va="center",
                        color="white" if shown[i, j] > shown.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return cm


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
