"""Task pages (portal/campaigns/task_views.py): HQ drafts, publishes and closes a task and reads
its completion; a distributor sees only its own tasks (anyone else's is a 404); a store's owner
sees how its own guides are doing; a guide sees on their phone page only the tasks that reached
them, with progress, reward and their own link."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from portal.campaigns import tasks
from portal.campaigns.models import GuideTask
from portal.core.access import Role
from portal.core.db import utcnow
from portal.extensions import db
from tests.campaigns.tasks.conftest import TaskShop, browser, rewards, task_count
from tests.storefront.test_cart_views import sign_in
from tests.support.consumer_orders import pay_by_notice


def text(response) -> str:
    return response.get_data(as_text=True)


def local(moment) -> str:
    """A time as the form's field takes it (the portal's time zone: Asia/Shanghai)."""
    return (moment + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")


def form(**values) -> dict:
    now = utcnow()
    data = {
        "title": "Bring buyers",
        "kind": "orders",
        "starts_at": local(now - timedelta(hours=1)),
        "ends_at": local(now + timedelta(days=3)),
        "target": "2",
        "reward": "1.00",
        "cap": "1.50",
        "campaign_id": "0",
    }
    data.update(values)
    return data


def guide_browser(app, ts: TaskShop, short: str):
    client = browser(app)
    user = ts.gs.users[short]
    response = client.post("/login", data={"email": user.email, "password": "x" * 12})
    assert response.status_code == 302
    return client


def test_hq_drafts_publishes_and_closes_a_task_and_reads_its_completion(app, ts):
    hq = browser(app, ts.user("HQ", Role.HQ_ADMIN))
    db.session.commit()
    assert hq.get("/campaigns/tasks/").status_code == 200

    wrong = hq.post("/campaigns/tasks/", data=form(reward="-1", cap="0.50"))
    assert wrong.status_code == 422
    assert "A reward of zero or more for each result." in text(wrong)
    assert task_count() == 0
    uncapped = hq.post("/campaigns/tasks/", data=form(cap=""))
    assert uncapped.status_code == 422
    assert "A rewarded task needs a cap per guide." in text(uncapped)
    assert task_count() == 0

    made = hq.post("/campaigns/tasks/", data=form(regions="shanghai"))
    assert made.status_code == 302
    page = hq.get(made.headers["Location"])
    assert 'data-testid="task-status">Draft<' in text(page)
    task = db.session.execute(
        select(GuideTask).where(GuideTask.brand_id == ts.brand.id)
    ).scalar_one()
    assert task.audience == {"regions": ["shanghai"]} and task.cap_cents == 150

    assert hq.post(f"/campaigns/tasks/{task.id}/publish").status_code == 302
    gs = ts.gs
    for _ in range(2):
        pay_by_notice(gs.place(gs.consumer(), guide_code=gs.guides["JA"].code))
    tasks.run_task(task.id)
    db.session.commit()
    page = text(hq.get(f"/campaigns/tasks/{task.id}"))
    assert 'data-testid="total-guides">2<' in page  # JA and LJ: the Shanghai stores
    assert 'data-testid="total-done">1<' in page
    assert re.search(r'data-key="shanghai">.*?data-testid="results">2<', page, re.S)
    assert re.search(r'data-key="TKJA">.*?data-testid="done">1<', page, re.S)

    csv = text(hq.get(f"/campaigns/tasks/{task.id}/completion.csv"))
    assert f"{task.code},shanghai,TKJA,{gs.guides['JA'].code}" in csv
    assert csv.strip().splitlines()[1].endswith(",2,2,1,150,")  # capped, not written yet

    assert hq.post(f"/campaigns/tasks/{task.id}/close").status_code == 302
    db.session.expire_all()
    assert rewards(task) == {gs.guides["JA"].id: 150}
    assert 'data-testid="task-status">Closed<' in text(hq.get(f"/campaigns/tasks/{task.id}"))


def test_a_published_task_can_no_longer_be_edited(app, ts):
    hq = browser(app, ts.user("HQ", Role.HQ_ADMIN))
    task = ts.published()
    db.session.commit()
    response = hq.post(f"/campaigns/tasks/{task.id}", data=form(title="Changed"))
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(GuideTask, task.id).title == "Sell two"


def test_a_distributor_sees_only_its_own_tasks(app, ts):
    hq_task = ts.published()
    a1_task = ts.published(ts.distributor("A1"), title="North stores")
    a2_task = ts.task(ts.distributor("A2"), title="South stores")
    a1 = browser(app, ts.user("A1", Role.DISTRIBUTOR_ADMIN))
    a2 = browser(app, ts.user("A2", Role.DISTRIBUTOR_ADMIN))
    hq = browser(app, ts.user("HQ", Role.HQ_ADMIN))
    db.session.commit()

    listing = text(a1.get("/campaigns/tasks/"))
    assert f'data-code="{a1_task.code}"' in listing
    assert f'data-code="{hq_task.code}"' not in listing
    assert f'data-code="{a2_task.code}"' not in listing
    for other in (hq_task, a2_task):
        assert a1.get(f"/campaigns/tasks/{other.id}").status_code == 404
        assert a1.post(f"/campaigns/tasks/{other.id}/close").status_code == 404
        assert a1.get(f"/campaigns/tasks/{other.id}/completion.csv").status_code == 404
    assert a2.get(f"/campaigns/tasks/{a1_task.id}").status_code == 404
    assert a1.get(f"/campaigns/tasks/{a1_task.id}").status_code == 200
    assert hq.get(f"/campaigns/tasks/{a1_task.id}").status_code == 200  # HQ is above it
    db.session.expire_all()
    assert db.session.get(GuideTask, hq_task.id).status == "published"


def test_a_guide_sees_only_the_tasks_that_reached_them_with_progress_and_a_link(app, ts):
    mine = ts.published(kind="share", ref="product:TEE", stores=("TKJA",), title="Share the tee")
    theirs = ts.published(stores=("TKLJ",), title="Lujiazui sells")
    draft = ts.task(title="Not yet")
    db.session.commit()
    ja = guide_browser(app, ts, "JA")

    page = text(ja.get("/guides/me/tasks"))
    assert f'data-code="{mine.code}"' in page
    assert f'data-code="{theirs.code}"' not in page
    assert f'data-code="{draft.code}"' not in page
    assert 'data-testid="task-progress">0 / 2<' in page
    assert 'data-testid="task-qr"' in page
    url = re.search(r'value="([^"]+)" aria-label="Link to share" data-testid="task-link"', page)
    path = "/" + url.group(1).split("://", 1)[1].split("/", 1)[1]
    assert path.startswith("/shop/TK/g/")

    for _ in range(2):  # someone opens the guide's link without signing in, cookies cleared
        stranger = app.test_client()
        assert stranger.get(path).headers["Location"].endswith("/shop/TK/p/TEE")
    tasks.run_task(mine.id)
    db.session.commit()
    page = text(ja.get("/guides/me/tasks"))
    assert 'data-testid="task-progress">0 / 2<' in page  # nobody signed in: not counted

    shopper = app.test_client()  # a consumer signed in to the shop opens it (twice)
    sign_in(shopper, ts.gs.shop)
    for _ in range(2):
        assert shopper.get(path).headers["Location"].endswith("/shop/TK/p/TEE")
    tasks.run_task(mine.id)
    db.session.commit()
    page = text(ja.get("/guides/me/tasks"))
    assert 'data-testid="task-progress">1 / 2<' in page
    assert "pending until the task closes" in page
    assert "¥1.00" in page or "CN¥1.00" in page


def test_a_store_owner_sees_its_own_guides_progress_only(app, ts):
    gs = ts.gs
    task = ts.published(regions=("shanghai",))
    pay_by_notice(gs.place(gs.consumer(), guide_code=gs.guides["LJ"].code))
    tasks.run_task(task.id)
    owner = browser(app, ts.user("JA", Role.STORE_OWNER))
    db.session.commit()
    page = text(owner.get("/guides/store/tasks"))
    assert f'data-code="{task.code}"' in page
    assert f'data-code="{gs.guides["JA"].code}"' in page
    assert f'data-code="{gs.guides["LJ"].code}"' not in page  # another store's guide
    hq = browser(app, ts.user("HQ", Role.HQ_ADMIN))
    db.session.commit()
    assert hq.get("/guides/store/tasks").status_code == 302
