"""Text messages to consumers' phones (sign-in codes). The provider is configuration
(`SMS_BACKEND`): `log` writes the message to the application log, for development and tests; a
real provider is one more class with `send` registered in BACKENDS."""

from __future__ import annotations

from typing import Protocol

from flask import current_app


class SmsBackend(Protocol):
    def send(self, phone: str, text: str) -> None:
        """Deliver `text` to `phone` (E.164), or raise."""


class LogBackend:
    """Development: the message goes to the log, where the person running the portal reads it."""

    def send(self, phone: str, text: str) -> None:
        current_app.logger.info("SMS to %s: %s", phone, text)


BACKENDS: dict[str, type[SmsBackend]] = {"log": LogBackend}


def backend() -> SmsBackend:
    name = current_app.config["SMS_BACKEND"]
    if name not in BACKENDS:
        raise RuntimeError(f"SMS_BACKEND must be one of {', '.join(BACKENDS)}; got {name!r}")
    return BACKENDS[name]()


def send(phone: str, text: str) -> None:
    backend().send(phone, text)
