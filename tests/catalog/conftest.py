from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def instance_dir(app, tmp_path, monkeypatch):
    """Images and uploaded files go to a per-test directory, never the real instance/."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    return tmp_path
