"""Publishing fans a version out to its audience: one notification per targeted active org, and
one e-mail per org admin, exactly once, whether the job runs inline, on a real RQ worker, twice,
or again after dying half way."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from portal.core import jobs
from portal.core.access import Role
from portal.core.db import utcnow
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db
from portal.network.models import Membership, User
from portal.policy import delivery, services
from portal.policy import jobs as policy_jobs
from portal.policy.errors import PolicyNotEditable
from portal.policy.models import Notification, PolicyVersion
from tests.support.policy import Net, build_network
from tests.support.processes import stack_app

ROOT = Path(__file__).resolve().parents[2]


def add_member(net: Net, short: str, email: str, role: Role) -> None:
    user = User(email=email, name=email.split("@")[0])
    user.set_password("demo1234")
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(org_id=net.org_id(short), user_id=user.id, role=role))
    db.session.flush()


def mail_to(caplog) -> list[str]:
    """Recipients of the e-mails sent, in order (the development mailer logs each one)."""
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.mail"]
    return [word[3:] for line in lines for word in line.split() if word.startswith("to=")]


def each_once(net: Net, *shorts: str) -> dict[int, int]:
    return {net.org_id(s): 1 for s in shorts}


EVERYONE_ACTIVE = ("A1", "S1", "A2", "B1", "B2")  # PXX is suspended


# -- inline (no Redis): the job runs in this process right after the commit ----------------------


def test_publishing_delivers_one_notification_per_targeted_active_org(net: Net):
    version = net.publish("P-LEVEL-A", kind="level", values=("A",), price="all 50%")
    assert net.notifications(version) == {}  # nothing before the commit
    jobs.commit()

    assert net.notifications(version) == each_once(net, "A1", "S1", "A2")
    run = db.session.get(JobRun, version.fanout_job_id)
    assert (run.status, run.queue, run.progress) == (JobStatus.FINISHED, jobs.QUEUE_PUSH, 100)
    assert run.result == {"targeted": 3, "delivered": 3, "emails": 0}
    assert run.brand_id == net.brand.id


def test_publishing_twice_or_running_the_job_again_adds_nothing(net: Net):
    version = net.publish("P-ALL", price="all 50%")
    jobs.commit()
    version = db.session.get(PolicyVersion, version.id)

    with pytest.raises(PolicyNotEditable):
        services.publish_policy(net.hq, version)
    again = jobs.enqueue(
        policy_jobs.deliver_policy, version.id, key=f"policy-delivery:{version.id}"
    )
    jobs.commit()
    assert again.id == version.fanout_job_id and again.attempts == 1
    # The job run once more by hand, and as a retry would (queued again, executed again).
    assert policy_jobs.deliver_policy(version.id)["delivered"] == 0
    again.status = JobStatus.QUEUED
    db.session.commit()
    assert jobs.execute(again.id) == {"targeted": 5, "delivered": 0, "emails": 0}

    assert net.notifications() == each_once(net, *EVERYONE_ACTIVE)


def test_a_rerun_after_dying_half_way_finishes_the_rest_without_doubling(net: Net, monkeypatch):
    monkeypatch.setattr(policy_jobs, "BATCH", 2)
    version = net.publish("P-ALL", price="all 50%")
    # As if a first attempt had committed its first batch (two orgs) and then died.
    delivery.deliver_batch(version, sorted(net.org_id(s) for s in EVERYONE_ACTIVE)[:2])
    jobs.commit()

    run = db.session.get(JobRun, version.fanout_job_id)
    assert run.result == {"targeted": 5, "delivered": 3, "emails": 0}
    assert net.notifications(version) == each_once(net, *EVERYONE_ACTIVE)


def test_admins_get_one_email_each_and_a_rerun_sends_none(net: Net, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    add_member(net, "A1", "boss.a1@example.com", Role.DISTRIBUTOR_ADMIN)
    add_member(net, "A1", "buyer.a1@example.com", Role.DISTRIBUTOR_BUYER)  # not an admin
    add_member(net, "S1", "owner.s1@example.com", Role.STORE_OWNER)
    add_member(net, "B1", "boss.b1@example.com", Role.DISTRIBUTOR_ADMIN)  # not targeted
    version = net.publish("P-NORTH-A", kind="level", values=("A",), price="all 50%")
    jobs.commit()

    assert sorted(mail_to(caplog)) == ["boss.a1@example.com", "owner.s1@example.com"]
    run = db.session.get(JobRun, version.fanout_job_id)
    assert run.result == {"targeted": 3, "delivered": 3, "emails": 2}
    caplog.clear()
    assert policy_jobs.deliver_policy(version.id) == {"targeted": 3, "delivered": 0, "emails": 0}
    assert mail_to(caplog) == []


def test_each_version_is_delivered_on_its_own(net: Net):
    v1 = net.publish("P-ALL", price="all 50%")
    jobs.commit()
    v1 = db.session.get(PolicyVersion, v1.id)
    v2 = services.revise_policy(net.hq, v1)
    services.publish_policy(net.hq, v2)
    jobs.commit()

    assert net.notifications(v1) == each_once(net, *EVERYONE_ACTIVE)
    assert net.notifications(v2) == each_once(net, *EVERYONE_ACTIVE)
    assert db.session.get(PolicyVersion, v2.id).fanout_job_id != v1.fanout_job_id


def test_a_draft_is_never_delivered(net: Net):
    draft = net.write("P-ALL", price="all 50%")
    jobs.commit()
    assert policy_jobs.deliver_policy(draft.id) == {"skipped": "not published"}
    assert net.notifications() == {}


def test_reminders_go_to_admins_of_orgs_that_have_not_acknowledged(net: Net, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    add_member(net, "A1", "boss.a1@example.com", Role.DISTRIBUTOR_ADMIN)
    add_member(net, "A2", "boss.a2@example.com", Role.DISTRIBUTOR_ADMIN)
    version = net.publish("P-ALL", price="all 50%")
    jobs.commit()
    version = db.session.get(PolicyVersion, version.id)
    item = db.session.execute(
        select(Notification).where(
            Notification.version_id == version.id, Notification.org_id == net.org_id("A1")
        )
    ).scalar_one()
    services.acknowledge(net.actor("A1"), item)
    caplog.clear()

    services.remind(net.hq, version)
    jobs.commit()
    assert mail_to(caplog) == ["boss.a2@example.com"]


def mail_fails_once_at_call(monkeypatch, nth: int) -> None:
    """The mail server goes away on the nth e-mail the policy jobs send (the job dies there)."""
    real = policy_jobs.deliver_mail
    calls = 0

    def deliver(to: str, subject: str, body: str):
        nonlocal calls
        calls += 1
        if calls == nth:
            raise ConnectionError("mail server went away")
        return real(to, subject, body)

    monkeypatch.setattr(policy_jobs, "deliver_mail", deliver)


def one_admin_each(net: Net, *shorts: str) -> list[str]:
    roles = {"A": Role.DISTRIBUTOR_ADMIN, "B": Role.DISTRIBUTOR_ADMIN, "S": Role.STORE_OWNER}
    emails = [f"boss.{short.lower()}@example.com" for short in shorts]
    for short, email in zip(shorts, emails, strict=True):
        add_member(net, short, email, roles[short[0]])
    return emails


def run_again(job_id: str) -> JobRun:
    run = db.session.get(JobRun, job_id)
    assert run.status == JobStatus.FAILED and "mail server went away" in run.error
    jobs.retry(run)
    jobs.commit()
    db.session.refresh(run)
    assert run.status == JobStatus.FINISHED
    return run


def test_a_delivery_that_died_while_e_mailing_mails_no_org_twice_when_run_again(
    net: Net, caplog, monkeypatch
):
    caplog.set_level(logging.INFO, logger="portal.mail")
    admins = one_admin_each(net, "A1", "S1", "A2")
    mail_fails_once_at_call(monkeypatch, 2)  # the first org's e-mail went out, then it died
    version = net.publish("P-LEVEL-A", kind="level", values=("A",), price="all 50%")
    jobs.commit()
    assert len(mail_to(caplog)) == 1

    run = run_again(version.fanout_job_id)
    assert sorted(mail_to(caplog)) == sorted(admins)  # each admin once, over both attempts
    assert run.result == {"targeted": 3, "delivered": 0, "emails": 2}


def test_a_reminder_that_died_half_way_reminds_each_org_once_when_run_again(
    net: Net, caplog, monkeypatch
):
    caplog.set_level(logging.INFO, logger="portal.mail")
    admins = one_admin_each(net, "A1", "S1", "A2")
    version = net.publish("P-LEVEL-A", kind="level", values=("A",), price="all 50%")
    jobs.commit()
    version = db.session.get(PolicyVersion, version.id)
    caplog.clear()
    monkeypatch.setattr(policy_jobs, "BATCH", 1)
    mail_fails_once_at_call(monkeypatch, 2)  # the first batch went out, then it died

    run = services.remind(net.hq, version)
    jobs.commit()
    run = run_again(run.id)
    assert sorted(mail_to(caplog)) == sorted(admins)
    counts = db.session.execute(
        select(Notification.org_id, Notification.remind_count).where(
            Notification.version_id == version.id
        )
    )
    assert dict(counts.tuples().all()) == each_once(net, "A1", "S1", "A2")


def test_each_reminder_request_reminds_once_and_a_later_one_again(net: Net, caplog):
    caplog.set_level(logging.INFO, logger="portal.mail")
    admins = one_admin_each(net, "A1", "A2")
    version = net.publish("P-LEVEL-A", kind="level", values=("A",), price="all 50%")
    jobs.commit()
    caplog.clear()
    asked = utcnow().isoformat()

    assert policy_jobs.remind_unacknowledged(version.id, asked)["reminded"] == 3
    assert policy_jobs.remind_unacknowledged(version.id, asked) == {"reminded": 0, "emails": 0}
    assert sorted(mail_to(caplog)) == sorted(admins)
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert policy_jobs.remind_unacknowledged(version.id, later) == {"reminded": 3, "emails": 2}
    assert sorted(mail_to(caplog)) == sorted(admins * 2)


# -- real Redis, real RQ worker ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rq_app(own_redis):
    with stack_app("portal_test_policy_jobs", own_redis.url, demo=False) as app:
        yield app


@pytest.fixture
def rq(rq_app):
    connection = jobs.redis_connection(rq_app.config["REDIS_URL"])
    connection.flushdb()
    with rq_app.app_context():
        yield rq_app
        db.session.rollback()
        db.session.remove()
    connection.flushdb()
    connection.close()


def run_worker(app) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "PORTAL_ENV": "development",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "worker.py", "--burst", "--queues", jobs.QUEUE_PUSH],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def queued_on_push() -> int:
    from rq import Queue

    return Queue(jobs.QUEUE_PUSH, connection=jobs.redis_connection()).count


@pytest.mark.redis
def test_rq_fanout_delivers_exactly_once_per_org_including_a_rerun(rq):
    net = build_network("PR")
    db.session.commit()
    version = net.publish("P-ALL", price="all 50%")
    version_id, job_id = version.id, version.fanout_job_id
    assert queued_on_push() == 0  # nothing reaches Redis before the commit
    db.session.commit()
    assert queued_on_push() == 1

    result = run_worker(rq)
    assert result.returncode == 0, result.stderr[-2000:]
    db.session.expire_all()
    assert net.notifications() == each_once(net, *EVERYONE_ACTIVE)
    run = db.session.get(JobRun, job_id)
    assert (run.status, run.attempts) == (JobStatus.FINISHED, 1)
    assert run.result == {"targeted": 5, "delivered": 5, "emails": 0}

    # Asking again for the finished delivery collapses into it: nothing is queued.
    jobs.enqueue(policy_jobs.deliver_policy, version_id, key=job_id)
    db.session.commit()
    assert queued_on_push() == 0

    # A worker was killed after committing the first orgs: the run is left "started", past its
    # timeout. The periodic recovery queues it again and a worker finishes the rest.
    db.session.execute(
        delete(Notification).where(
            Notification.version_id == version_id,
            Notification.org_id.in_([net.org_id("B1"), net.org_id("B2")]),
        )
    )
    run.status = JobStatus.STARTED
    run.started_at = utcnow() - timedelta(hours=2)
    db.session.commit()
    assert jobs.recover_stale_runs() == [job_id]
    db.session.commit()
    assert queued_on_push() == 1
    result = run_worker(rq)
    assert result.returncode == 0, result.stderr[-2000:]
    db.session.expire_all()
    assert net.notifications() == each_once(net, *EVERYONE_ACTIVE)
    run = db.session.get(JobRun, job_id)
    assert (run.status, run.attempts) == (JobStatus.FINISHED, 2)
    assert run.result == {"targeted": 5, "delivered": 2, "emails": 0}

    # And once more with everything delivered: still one each.
    run.status = JobStatus.QUEUED
    db.session.commit()
    jobs.enqueue(policy_jobs.deliver_policy, version_id, key=job_id)
    db.session.commit()
    result = run_worker(rq)
    assert result.returncode == 0, result.stderr[-2000:]
    db.session.expire_all()
    assert net.notifications() == each_once(net, *EVERYONE_ACTIVE)
    assert db.session.get(JobRun, job_id).result["delivered"] == 0


@pytest.mark.redis
def test_rq_worker_emails_each_admin_once(rq):
    net = build_network("PM")
    add_member(net, "A1", "boss.pma1@example.com", Role.DISTRIBUTOR_ADMIN)
    add_member(net, "B2", "boss.pmb2@example.com", Role.DISTRIBUTOR_ADMIN)
    db.session.commit()
    version = net.publish("P-ALL", price="all 50%")
    job_id = version.fanout_job_id
    db.session.commit()

    first = run_worker(rq)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stderr.count("to=boss.pma1@example.com") == 1
    assert first.stderr.count("to=boss.pmb2@example.com") == 1
    assert first.stderr.count("/inbox/") == 2

    db.session.expire_all()
    run = db.session.get(JobRun, job_id)
    run.status = JobStatus.QUEUED
    db.session.commit()
    jobs.enqueue(policy_jobs.deliver_policy, version.id, key=job_id)
    db.session.commit()
    second = run_worker(rq)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "to=" not in second.stderr
    db.session.expire_all()
    assert db.session.get(JobRun, job_id).result == {
        "targeted": 5,
        "delivered": 0,
        "emails": 0,
    }
