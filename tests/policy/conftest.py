from __future__ import annotations

import pytest

from portal.extensions import db
from tests.support.policy import Net, build_network


@pytest.fixture
def net(app) -> Net:
    """A fresh brand with its own network and catalog, committed to the test's savepoint so a
    rollback inside a test returns to it."""
    built = build_network()
    db.session.commit()
    return built
