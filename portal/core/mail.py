"""Outgoing e-mail, delivered from jobs (which run after the asking transaction commits).

MAIL_BACKEND=log (the default) writes each message to the application log, which is how
development and tests read invitation links.
"""

from __future__ import annotations

import logging

from flask import current_app

from portal.core import jobs

log = logging.getLogger("portal.mail")


@jobs.job(queue=jobs.QUEUE_DEFAULT, title="Send e-mail")
def deliver_mail(to: str, subject: str, body: str) -> dict[str, str]:
    backend = current_app.config["MAIL_BACKEND"]
    if backend != "log":
        raise RuntimeError(f"MAIL_BACKEND={backend!r} is not supported yet; use 'log'")
    log.info(
        "mail from=%s to=%s subject=%s\n%s", current_app.config["MAIL_SENDER"], to, subject, body
    )
    return {"to": to, "subject": subject}
