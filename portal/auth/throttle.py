"""The portal users' sign-in throttle: `portal.core.throttle` without a scope (its docstring says
how the delays work). Kept as the name auth's own modules and tests use."""

from __future__ import annotations

from portal.core.throttle import (  # noqa: F401 - auth's name for the shared throttle
    EVERY,
    KEPT_FOR,
    Client,
    FailedSignIns,
    SignInFailure,
    address_key,
    prune,
    record_failure,
    record_success,
    wait_seconds,
)
