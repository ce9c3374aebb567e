"""Finding the system Chromium for the browser tests (Playwright never downloads its own)."""

from __future__ import annotations

import os
import shutil

# The test machine has no network: keep Chromium from phoning home (updates, sync, QUIC probes),
# which would otherwise stall start-up or leave background connections around.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """CHROMIUM_PATH if set, else chromium / chromium-browser on PATH, else None."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")
