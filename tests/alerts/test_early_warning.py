"""Early warning on repeated problems, driven through the API and the web pages with the
production diagrams: thresholds and windows per dimension, one alert per cluster (in-app and an
e-mail that reaches the local SMTP server), the case page's earlier cases, Quality's
acknowledge/link flow, the rules page, GET /api/v1/alerts and who may do what."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from app.clock import clock
from app.data.models import AuditEvent, Case, CaseSerial, EmailOutbox, Notification, RepeatCluster, User
from app.services import notifications
from tests.conftest import csrf_token
from tests.process_http.conftest import T0
from tests.process_http.payloads import intake

QUALITY = ("quality", "quality_head")


def _case(flow, n: int, **overrides) -> int:
    """A complaint with a model, serial and batch of its own unless ``overrides`` say otherwise."""
    data = intake(customer_email="", product_model=f"M-{n}", serial_numbers=f"S-{n}", customer_name=f"客户{n}")
    return flow.open_case(**{**data, **overrides})


def _at(flow, days: int) -> None:
    """Move the clock ``days`` after T0; the users sign in again (tokens and sessions expire)."""
    clock.set(T0 + timedelta(days=days))
    flow._headers.clear()
    flow._clients.clear()


def _clusters(flow) -> list[RepeatCluster]:
    with flow.database.session() as s:
        return list(s.scalars(select(RepeatCluster).order_by(RepeatCluster.id)))


def _alert_notes(flow) -> int:
    with flow.database.session() as s:
        return s.scalar(select(func.count(Notification.id)).where(Notification.kind == "repeat_alert")) or 0


def _numbers(flow, *ids: int) -> list[str]:
    with flow.database.session() as s:
        return [s.get(Case, i).number for i in ids]


def test_a_model_alerts_quality_once_at_its_threshold_and_the_cluster_grows(flow, smtp_server):
    flow.app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    first = _case(flow, 1, product_model="XK-9")
    _at(flow, 10)
    second = _case(flow, 2, product_model="XK-9")
    assert _clusters(flow) == [] and _alert_notes(flow) == 0  # 2 of 3: below the threshold
    _at(flow, 29)
    third = _case(flow, 3, product_model="XK-9")
    [cluster] = _clusters(flow)
    assert (cluster.dimension, cluster.key, cluster.case_count, cluster.status) == ("model", "XK-9", 3, "open")
    assert (cluster.first_case_id, cluster.last_case_id) == (first, third)
    assert _alert_notes(flow) == len(QUALITY)  # the quality user is a quality engineer too: one note each
    _at(flow, 40)  # within 30 days of the cluster's latest case: it joins
    fourth = _case(flow, 4, product_model="XK-9")
    fifth = _case(flow, 5, product_model="XK-9")
    [cluster] = _clusters(flow)
    assert cluster.case_count == 5 and cluster.last_case_id == fifth
    assert _alert_notes(flow) == len(QUALITY)  # once per cluster
    with flow.database.session() as s:
        actions = [a for (a,) in s.execute(select(AuditEvent.action).where(AuditEvent.action.like("alert_%"))
                                                .order_by(AuditEvent.id))]
        assert actions == ["alert_raised", "alert_case_joined", "alert_case_joined"]
        mails = select(func.count(EmailOutbox.id)).join(Notification, Notification.id == EmailOutbox.notification_id)
        assert s.scalar(mails.where(Notification.kind == "repeat_alert")) == len(QUALITY)
    assert notifications.drain_outbox(flow.database, flow.app.config)[1] == 0
    [mail] = smtp_server.inbox.to("quality@example.com")
    assert mail["Subject"].startswith("重复问题预警：规格型号 XK-9，30 天内 3 个案例")
    assert f"/alerts/{cluster.id}" in mail.get_content()
    assert len(smtp_server.inbox.to("quality_head@example.com")) == 1
    # the quality user's bell opens the alert
    with flow.database.session() as s:
        note_id = s.scalar(select(Notification.id).join(User, User.id == Notification.user_id)
                           .where(Notification.kind == "repeat_alert", User.username == "quality"))
    opened = flow.client("quality").get(f"/notifications/{note_id}/open")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/alerts/{cluster.id}")
    del second, fourth


def test_a_case_outside_the_window_does_not_count(flow):
    _case(flow, 1, batch_no="b-2411")
    _at(flow, 91)  # the batch rule looks back 90 days
    second = _case(flow, 2, batch_no="B-2411 ")
    assert _clusters(flow) == []
    _at(flow, 150)
    third = _case(flow, 3, batch_no="B-2411")
    [cluster] = _clusters(flow)
    assert (cluster.dimension, cluster.key, cluster.case_count) == ("batch", "B-2411", 2)
    assert (cluster.first_case_id, cluster.last_case_id) == (second, third)
    _at(flow, 400)  # a quiet spell longer than the window: a new cluster later
    _case(flow, 4, batch_no="B-2411")
    assert len(_clusters(flow)) == 1
    _case(flow, 5, batch_no="B-2411")
    assert [c.case_count for c in _clusters(flow)] == [2, 2]
    assert _alert_notes(flow) == 2 * len(QUALITY)


def test_a_second_case_for_one_serial_alerts_and_other_feedback_types_do_not_count(flow):
    first = _case(flow, 1, serial_numbers="sn-77, SN-78")
    _case(flow, 2, serial_numbers="SN-77", feedback_type="praise")  # not a problem: not counted
    assert _clusters(flow) == []
    third = _case(flow, 3, serial_numbers="SN-90\nsn-77")
    with flow.database.session() as s:
        assert sorted(s.scalars(select(CaseSerial.serial).where(CaseSerial.case_id == first))) == ["SN-77", "SN-78"]
    [cluster] = _clusters(flow)
    assert (cluster.dimension, cluster.key, cluster.case_count) == ("serial", "SN-77", 2)
    assert (cluster.first_case_id, cluster.last_case_id) == (first, third)


def _set_rules(flow, **fields):
    client = flow.client("admin")
    form = {"csrf_token": csrf_token(client, "/admin/early-warning"), "model_threshold": "3", "model_window_days": "30",
            "batch_threshold": "2", "batch_window_days": "90", "serial_threshold": "2", "serial_window_days": "365",
            "serial_prefix_threshold": "3", "serial_prefix_window_days": "90", "prefix_length": "0",
            "types": ["complaint"], **fields}
    return client.post("/admin/early-warning", data=form)


def test_the_rules_page_validates_and_new_rules_apply(flow):
    page = _set_rules(flow, model_threshold="many")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "阈值是 0（关闭）到 1000 之间的整数案例数。" in html and 'value="many"' in html  # typed input kept
    assert _set_rules(flow, types=[]).status_code == 422
    assert _set_rules(flow, serial_prefix_threshold="2", prefix_length="6").status_code == 302
    with flow.database.session() as s:
        assert s.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "setting_changed",
                                                                AuditEvent.element == "alerts.rules")) == 1
    _case(flow, 1, serial_numbers="SN2411-0001")
    _case(flow, 2, serial_numbers="SN2411-0950")
    [cluster] = _clusters(flow)
    assert (cluster.dimension, cluster.key, cluster.case_count) == ("serial_prefix", "SN2411", 2)
    assert _set_rules(flow, serial_threshold="0", serial_prefix_threshold="0").status_code == 302
    _case(flow, 3, serial_numbers="SN2411-0001")  # rules off: no serial cluster
    assert len(_clusters(flow)) == 1


def test_the_case_page_shows_the_earlier_matching_cases(flow):
    first = _case(flow, 1, product_model="XK-7")
    second = _case(flow, 2, product_model="XK-7")
    _case(flow, 3, product_model="OTHER")
    one, two = _numbers(flow, first, second)
    html = flow.client("marketing").get(f"/cases/{second}").get_data(as_text=True)
    panel = html[html.index('data-testid="related-cases"'):]
    assert "相关历史案例" in html and f'href="/cases/{first}"' in panel and one in panel
    assert 'data-testid="case-alert"' not in panel  # below the threshold: no alert yet
    html = flow.client("marketing").get(f"/cases/{first}").get_data(as_text=True)
    assert two not in html[html.index('data-testid="related-cases"'):]  # only earlier cases
    third = _case(flow, 4, product_model="XK-7")
    html = flow.client("quality").get(f"/cases/{third}").get_data(as_text=True)
    panel = html[html.index('data-testid="related-cases"'):]
    assert one in panel and two in panel and 'data-testid="case-alert"' in panel


def _alert(flow) -> int:
    for n in range(3):
        _case(flow, n, product_model="XK-5")
    [cluster] = _clusters(flow)
    return cluster.id


def test_quality_acknowledges_and_links_an_alert(flow):
    alert_id = _alert(flow)
    target = _case(flow, 9)
    [target_number] = _numbers(flow, target)
    client = flow.client("quality")
    listing = client.get("/alerts/").get_data(as_text=True)
    assert f'data-alert-id="{alert_id}"' in listing and "XK-5" in listing
    token = csrf_token(client, f"/alerts/{alert_id}")
    empty = client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": token, "note": "  "})
    assert empty.status_code == 422 and "请在备注中说明针对该预警采取的措施。" in empty.get_data(as_text=True)
    assert _clusters(flow)[0].status == "open"
    done = client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": token, "note": "8D 已启动"})
    assert done.status_code == 302
    wrong = client.post(f"/alerts/{alert_id}/link", data={"csrf_token": token, "case_number": "FB-1999-99999"})
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "没有此编号的案例。" in html and 'value="FB-1999-99999"' in html
    assert client.post(f"/alerts/{alert_id}/link", data={"csrf_token": token,
                                                         "case_number": target_number.lower()}).status_code == 302
    [cluster] = _clusters(flow)
    assert (cluster.status, cluster.note, cluster.linked_case_id) == ("acknowledged", "8D 已启动", target)
    page = client.get(f"/alerts/{alert_id}").get_data(as_text=True)
    assert page.count('data-testid="alert-case"') == 3 and target_number in page
    with flow.database.session() as s:
        assert [a for (a,) in s.execute(select(AuditEvent.action).where(AuditEvent.action.in_(
            ("alert_acknowledged", "alert_linked"))).order_by(AuditEvent.id))] == ["alert_acknowledged", "alert_linked"]
    # without a CSRF token nothing changes
    assert client.post(f"/alerts/{alert_id}/link", data={"case_number": ""}).status_code == 400
    assert _clusters(flow)[0].linked_case_id == target


def test_who_may_see_and_handle_alerts(flow):
    alert_id = _alert(flow)
    for username in ("manager", "admin", "auditor", "quality_head"):
        assert flow.client(username).get(f"/alerts/{alert_id}").status_code == 200, username
    for username in ("marketing", "production_head", "finance"):
        assert flow.client(username).get("/alerts/").status_code == 403, username
    manager = flow.client("manager")
    page = manager.get(f"/alerts/{alert_id}").get_data(as_text=True)
    assert 'data-testid="acknowledge-form"' not in page  # read only
    token = re.search(r'name="csrf_token" value="([^"]+)"', manager.get("/inbox/").get_data(as_text=True)).group(1)
    assert manager.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": token, "note": "x"}).status_code == 403
    assert _clusters(flow)[0].status == "open"
    nav = flow.client("quality").get("/inbox/").get_data(as_text=True)
    assert 'href="/alerts/"' in nav and 'data-testid="nav-count-alerts">1<' in nav
    assert 'href="/alerts/"' not in flow.client("marketing").get("/inbox/").get_data(as_text=True)


def test_the_alerts_api_filters_and_pages(flow):
    _alert(flow)
    _case(flow, 7, batch_no="L1")
    _case(flow, 8, batch_no="L1")
    get = flow.client("quality").get
    body = get("/api/v1/alerts", headers=flow.headers("quality")).get_json()
    assert body["total"] == 2 and [a["dimension"] for a in body["alerts"]] == ["batch", "model"]
    model = body["alerts"][1]
    assert (model["key"], model["case_count"], model["status"], len(model["cases"])) == ("XK-5", 3, "open", 3)
    assert model["first_case"]["number"] == model["cases"][0] and model["linked_case"] is None
    only = get("/api/v1/alerts?dimension=batch&limit=1", headers=flow.headers("quality")).get_json()
    assert only["total"] == 1 and only["alerts"][0]["key"] == "L1"
    assert get("/api/v1/alerts?status=acknowledged", headers=flow.headers("quality")).get_json()["total"] == 0
    assert get("/api/v1/alerts?offset=1", headers=flow.headers("quality")).get_json()["alerts"][0]["key"] == "XK-5"
    bad = get("/api/v1/alerts?dimension=colour", headers=flow.headers("quality"))
    assert bad.status_code == 400 and "dimension" in bad.get_json()["error"]["message"]
    assert get("/api/v1/alerts?limit=0", headers=flow.headers("quality")).status_code == 400
    assert get("/api/v1/alerts", headers=flow.headers("manager")).status_code == 200
    assert get("/api/v1/alerts", headers=flow.headers("production")).status_code == 403
    assert flow.app.test_client().get("/api/v1/alerts").status_code == 401
    case = get(f"/api/v1/cases/{model['last_case']['id']}", headers=flow.headers("quality")).get_json()
    assert "batch_no" in case


def test_a_consultation_corrected_into_a_complaint_is_matched_then(flow):
    first = _case(flow, 1, serial_numbers="SN-5")
    second = _case(flow, 2, serial_numbers="SN-5", feedback_type="consultation", category="service")
    assert _clusters(flow) == []  # a consultation does not count
    flow.complete("marketing", "answer_close", {
        "new_feedback_type": "complaint", "new_category": "quality", "new_urgency": "urgent",
        "reclassify_reason": "同一台机器再次故障,属投诉"}, second)
    [cluster] = _clusters(flow)
    assert (cluster.dimension, cluster.key, cluster.first_case_id, cluster.last_case_id) == (
        "serial", "SN-5", first, second)


def test_the_demo_data_has_batch_numbers_and_an_alert(flow):
    from app.services.demo_cases import seed_demo_cases

    with flow.database.transaction() as s:
        numbers = seed_demo_cases(s, flow.app.extensions["runtime"])
    with flow.database.transaction() as s:
        assert seed_demo_cases(s, flow.app.extensions["runtime"]) == []  # once
        assert all(c.batch_no for c in s.scalars(select(Case)))
    assert len(numbers) == 4
    assert {(c.dimension, c.key, c.case_count) for c in _clusters(flow)} == {("batch", "B2411-07", 3),
                                                                             ("model", "XK-200", 3)}


def test_the_intake_forms_ask_for_the_batch_number(flow):
    assert 'name="batch_no"' in flow.app.test_client().get("/feedback").get_data(as_text=True)  # the customer's
    page = flow.client("marketing").get("/cases/new").get_data(as_text=True)
    assert 'name="batch_no"' in page and "批次号" in page
    case_id = flow.open_case(**intake(batch_no=" b-9 "))
    assert flow.case("marketing", case_id)["batch_no"] == "B-9"
