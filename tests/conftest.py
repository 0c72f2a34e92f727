"""Shared fixtures.  ``../shared`` is optional: tests that use it skip cleanly without it."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("ZOO_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))


@pytest.fixture(scope="session")
def shared_data():
    """The project's source data folder (../shared/data); skip when absent."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip(f"no shared data at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def autoclassmk_exported():
    """Directory of the committed, trained AutoClassMK; skip when it was not exported."""
    from zoo.predictor import exported_dir
    d = exported_dir("autoclassmk")
    if not os.path.exists(os.path.join(d, "card.json")):
        pytest.skip("exported/autoclassmk is not there (train with python -m training.autoclassmk)")
    return d
