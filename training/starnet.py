"""Train StarNet (Fabbro et al. 2018) as the baseline beside APOGEE Net; export to ``exported/starnet/``.

    python -m training.starnet            # full run (a few minutes on 2 CPU cores), evaluate + export
    python -m training.starnet --quick    # smoke run of about a minute (exports under runs/starnet_quick/)
    python -m training.starnet --help     # every recipe field, with its default

Same data, splits, standardization, evaluation and export as APOGEE Net
(:class:`training.apogeenet.task.ApogeeTask`); StarNet's own recipe, with the
hyperparameters of astroNN's ``StarNet2017`` (whose defaults its authors state
are the paper's): Adam, He-normal init, MSE, an epoch cap, ReduceLROnPlateau
and early stopping on the dev loss; no stratified fine-tuning unless
``--stratified``.  The numbers are in ``zoo/families/apogeenet/recipes.py`` (``STARNET``).
"""
from __future__ import annotations


from training.apogeenet.task import ApogeeTask  # noqa: E402
from training.skeleton import main  # noqa: E402


class StarNet(ApogeeTask):
    name = "starnet"
    description = ("Train StarNet (Fabbro et al. 2018) on simulated apStar spectra with its own recipe, "
                   "evaluate and export.")

    def notes(self, recipe, ctx):
        return [
            "Baseline: trained on the same simulated spectra, splits and standardization as apogeenet "
            "(training/apogeenet/task.py); not the paper's APOGEE DR13 / synthetic training sets.",
            "Input: the 8575-pixel apStar contract shared with apogeenet (the paper uses the 7214 ASPCAP pixels); "
            "the gap pixels are the constant fill 1.0, so the first dense layer is larger (8.8M vs ~7.4M parameters).",
            "Hyperparameters (the recipe block: epoch cap, ReduceLROnPlateau 'reduce_lr', early stopping "
            "'patience'/'min_delta' on the dev loss) from astroNN's StarNet2017 defaults, stated there to be the "
            "paper's.",
        ] + super().notes(recipe, ctx)


if __name__ == "__main__":
    main(StarNet)
