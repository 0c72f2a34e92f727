"""Training recipes, one module per model: ``python -m training.<model>``.

Shared pieces (seeding, schedules, callbacks, reports, plots) live in
:mod:`training.common`.
"""
