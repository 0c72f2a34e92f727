"""Train APOGEE Net (Olney et al. 2020, AJ 159, 182) and export it to ``exported/apogeenet/``.

    python -m training.apogeenet            # full run (~8 min on 2 CPU cores, to early stopping), evaluate + export
    python -m training.apogeenet --quick    # smoke run of about a minute (exports under runs/)

Recipe (Sec. 3.3): SGD, lr 1e-3, batch 128, dropout 0.1, MSE on standardized
targets; dev evaluation after each epoch, best checkpoint, stop after 5
evaluations without improvement.  Then stratified fine-tuning (Sec. 3.4,
``training/stratified.py``).  ``--momentum`` (default 0.9, the paper's SGD has
none) is the one deliberate deviation: see docs/apogeenet.md.
"""
from __future__ import annotations

import os

# oneDNN kernels train these Conv1D stacks ~2.5x faster on CPU (measured: 293 vs 115 spectra/s);
# set before training.common, whose default (0) favours bitwise reproducibility.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import training.common as common  # noqa: E402  (sets the TF environment first)
from training import apogee_data  # noqa: E402


def parser():
    p = common.base_parser("Train APOGEE Net (Olney et al. 2020) on simulated apStar spectra, "
                           "fine-tune stratified, evaluate and export.",
                           epochs=200, lr=1e-3, batch=128, outdir=os.path.join("runs", "apogeenet"))
    apogee_data.add_common_args(p, n_spectra=5000, minutes=60.0)
    p.add_argument("--momentum", type=float, default=0.9,
                   help="SGD momentum (the paper: plain SGD, i.e. 0; see docs/apogeenet.md)")
    p.add_argument("--init", default="he_normal", choices=["he_normal", "glorot_uniform"],
                   help="kernel initializer (the paper does not state one)")
    p.add_argument("--input-shift", type=float, default=-1.0,
                   help="fixed input shift before the convolutions (0: exactly Appendix B)")
    p.add_argument("--no-stratified", action="store_true", help="skip stratified fine-tuning")
    return apogee_data.add_finetune_args(p, patience=5, minutes=20.0)


def main(argv=None):
    args = apogee_data.parse_args(parser(), argv, patience=5)
    import keras
    opt = keras.optimizers.SGD(learning_rate=args.lr, momentum=args.momentum)
    notes = [
        "Trained on simulated spectra (The Payne's Kurucz / APOGEE-dwarf emulators, zoo.families.apogee.simulate), not on the "
        "paper's APOGEE DR14/DR16 spectra with ASPCAP and photometric labels: metrics measure the method on "
        "simulations; real-spectrum accuracy is not measured (only the 5 bundled apStar files are shown).",
        f"SGD momentum {args.momentum} (the paper: plain SGD at lr 1e-3). Measured on the same data (docs/apogeenet.md): "
        "plain SGD early-stops after 109 epochs at test MSE 0.0170, momentum 0.9 after 29 at 0.0126 (main phase).",
        f"Initialization {args.init} and a fixed, parameter-free input shift flux {args.input_shift:+g} "
        "(keras Rescaling; continuum 1 -> 0) before the Appendix B layers. Reason (measured, docs/apogeenet.md): "
        "with Keras' default Glorot init and the raw normalized flux (DC level 1, line signal ~0.03) the loss "
        "stayed at 1.00 (the label mean) after 60 steps for SGD 1e-3 + momentum, SGD 1e-2 + momentum and Adam 1e-3; "
        "with He init and the shift it fell to 0.59 (dev 0.33) in 40 steps. Parameter count unchanged.",
        "Training used oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS=1) for speed: runs are seeded but not bitwise "
        "reproducible across machines.",
        "Main phase and fine-tuning have wall-clock safety budgets (--minutes, --ft-minutes); 'stopped_by' in the "
        "recipe and 'stop_reason' in the metrics say whether the paper's stopping rules or a budget ended them.",
    ]
    recipe_used = {"momentum": args.momentum, "init": args.init, "input_shift": args.input_shift, "learning_rate": args.lr, "batch_size": args.batch,
                   "early_stopping_patience": args.patience, "time_budget_minutes": args.minutes,
                   "stratified_fine_tuning": None if args.no_stratified else {
                       "fraction": args.ft_fraction, "patience": args.ft_patience,
                       "round_patience": args.ft_round_patience, "max_rounds": args.ft_max_rounds,
                       "time_budget_minutes": args.ft_minutes,
                       "monitor": "mean dev standardized MSE of the small groups (mdwarf, yso)"}}
    apogee_data.run("apogeenet", args, optimizer=opt, callbacks=[], patience=args.patience,
                    stratified=not args.no_stratified, recipe_used=recipe_used, notes=notes,
                    model_kwargs={"init": args.init, "input_shift": args.input_shift})


if __name__ == "__main__":
    main()
