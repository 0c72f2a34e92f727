"""Training, one module per model: ``python -m training.<model>``.

Every module is a :class:`training.skeleton.Task` run by the one skeleton
(:mod:`training.skeleton`: CLI generated from the model's registered recipe,
``runs/<model>/`` outputs, export); shared pieces (seeding, schedules,
callbacks, plots) live in :mod:`training.common`.
"""
