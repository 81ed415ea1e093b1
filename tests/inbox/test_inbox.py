"""Department inboxes: views, business-field filters, sorting, pagination, saved filters,
claim races, assignment by heads, bulk claim/assign, delegation with return, substitutes,
overdue — all through the real pages with CSRF tokens (fixture diagrams)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from app.clock import clock
from app.data.models import AuditEvent, Department, HumanTask, TaskDelegation, User
from app.services.accounts import save_user
from tests.web.helpers import VERIFY_OK, create_case, open_task, text, user_client

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai

ROW = re.compile(r'data-testid="inbox-row" data-task-id="([^"]+)" data-case-number="([^"]*)"')


def rows(client, **params) -> list[str]:
    """Case numbers of the inbox rows, in display order."""
    response = client.get("/inbox/", query_string=params)
    assert response.status_code == 200
    return [number for _id, number in ROW.findall(response.get_data(as_text=True))]


def row_ids(client, **params) -> list[str]:
    response = client.get("/inbox/", query_string=params)
    assert response.status_code == 200
    return [task_id for task_id, _n in ROW.findall(response.get_data(as_text=True))]


def token(client, path: str = "/inbox/") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def number_of(page: str) -> str:
    return re.search(r"FB-\d{4}-\d{5}", page).group(0)


def user_id(database, username: str) -> int:
    with database.session() as s:
        return s.scalar(select(User.id).where(User.username == username))


def dept_id(database, code: str) -> int:
    with database.session() as s:
        return s.scalar(select(Department.id).where(Department.code == code))


def three_cases(app, database):
    """Three cases with different essentials; c has moved on to Quality's analysis."""
    clock.set(T0)
    marketing = user_client(app, "marketing")
    cases = {}
    for key, overrides in {
        "a": dict(customer_name="华东机械有限公司", product_model="XJ-200", serial_numbers="SN-1001\nSN-1002",
                  category="quality", urgency="urgent"),
        "b": dict(customer_name="华南电气", product_model="KB-7", serial_numbers="SN-2001", category="service",
                  urgency="general"),
        "c": dict(customer_name="北方重工", product_model="XJ-300", serial_numbers="AB-77", category="technical",
                  urgency="important", description="主轴断裂，无法开机"),
    }.items():
        clock.advance(timedelta(minutes=1))
        case_id, page = create_case(marketing, **overrides)
        cases[key] = (case_id, number_of(page))
    with database.session() as s:
        verify_c = open_task(s, cases["c"][0], "verify").id
    page = marketing.get(f"/tasks/{verify_c}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    submit = re.search(r'name="submit_token" value="([^"]+)"', page).group(1)
    assert marketing.post(f"/tasks/{verify_c}", data={**VERIFY_OK, "csrf_token": csrf,
                                                      "submit_token": submit}).status_code == 302
    return marketing, {k: v[1] for k, v in cases.items()}, {k: v[0] for k, v in cases.items()}


def test_filters_on_each_business_field(app, database):
    _marketing, no, ids = three_cases(app, database)
    admin = user_client(app, "admin")  # "all open tasks" shows Marketing's and Quality's tasks
    everything = rows(admin, tab="all")
    assert sorted(everything) == sorted(no.values())
    assert rows(admin, tab="all", case_number=no["b"][-5:]) == [no["b"]]
    assert rows(admin, tab="all", customer="华南") == [no["b"]]
    assert sorted(rows(admin, tab="all", product_model="xj")) == sorted([no["a"], no["c"]])  # case-insensitive
    assert rows(admin, tab="all", serial="SN-1002") == [no["a"]]  # second line of the serial numbers
    assert rows(admin, tab="all", serial="2001") == [no["b"]]
    assert rows(admin, tab="all", category="service") == [no["b"]]
    assert rows(admin, tab="all", urgency="important") == [no["c"]]
    assert rows(admin, tab="all", stage="analysis") == [no["c"]]  # element id
    assert sorted(rows(admin, tab="all", stage="核实")) == sorted([no["a"], no["b"]])  # title
    assert rows(admin, tab="all", department=str(dept_id(database, "quality"))) == [no["c"]]
    assert rows(admin, tab="all", q="主轴") == [no["c"]]  # full text reaches the case description
    assert rows(admin, tab="all", q="SN-2001") == [no["b"]]
    assert rows(admin, tab="all", q="华东") == [no["a"]]
    assert rows(admin, tab="all", q="100%") == []  # LIKE wildcards are escaped
    page = text(admin.get("/inbox/", query_string={"tab": "all", "customer": "没有这个客户"}))
    assert 'data-testid="inbox-empty"' in page
    # due range: the "until" day is included, days are Shanghai days
    with database.transaction() as s:
        for key, due in (("a", datetime(2026, 3, 3, 15, 0, tzinfo=UTC)),  # 3-3 23:00 Shanghai
                         ("b", datetime(2026, 3, 3, 17, 0, tzinfo=UTC))):  # 3-4 01:00 Shanghai
            s.execute(update(HumanTask).where(HumanTask.case_id == ids[key]).values(due_at=due))
    assert rows(admin, tab="all", due_from="2026-03-03", due_to="2026-03-03") == [no["a"]]
    assert rows(admin, tab="all", due_from="2026-03-04") == [no["b"]]


def test_sort_and_pagination(app, database):
    marketing, no, _ids = three_cases(app, database)
    admin = user_client(app, "admin")
    # priority: urgent, important, general
    assert rows(admin, tab="all", sort="priority") == [no["a"], no["c"], no["b"]]
    assert rows(admin, tab="all", sort="created")[0] == no["c"]  # c's analysis task is the newest
    assert rows(admin, tab="all", sort="case") == sorted(no.values())
    with database.transaction() as s:
        s.execute(update(HumanTask).where(HumanTask.case_number == no["b"])
                  .values(due_at=datetime(2026, 3, 5, tzinfo=UTC)))
    assert rows(admin, tab="all")[0] == no["b"]  # by due date, tasks without one last
    first = rows(admin, tab="all", sort="case", size=2)
    second = rows(admin, tab="all", sort="case", size=2, page=2)
    assert first == sorted(no.values())[:2] and second == sorted(no.values())[2:]
    page = text(admin.get("/inbox/", query_string={"tab": "all", "size": 2}))
    assert 'data-testid="pagination"' in page and "3" in re.search(r'data-testid="total">([^<]+)<', page).group(1)
    # Marketing's department queue holds a and b only
    assert sorted(rows(marketing, tab="department")) == sorted([no["a"], no["b"]])


def test_saved_filters_per_user(app, database):
    marketing, no, _ids = three_cases(app, database)
    response = marketing.post("/inbox/filters", data={"name": "紧急", "query": "tab=department&urgency=urgent",
                                                      "csrf_token": token(marketing)})
    assert response.status_code == 302
    page = text(marketing.get("/inbox/"))
    link = re.search(r'href="(/inbox/\?[^"]+)" data-testid="saved-filter">紧急<', page)
    assert link, page[-3000:]
    assert rows(marketing, **dict(re.findall(r"(\w+)=(\w+)", link.group(1).split("?", 1)[1]))) == [no["a"]]
    other = user_client(app, "marketing_head")
    assert 'data-testid="saved-filter"' not in text(other.get("/inbox/"))
    # saving under the same name replaces the query
    marketing.post("/inbox/filters", data={"name": "紧急", "query": "tab=department&urgency=general",
                                           "csrf_token": token(marketing)})
    page = text(marketing.get("/inbox/"))
    assert page.count('data-testid="saved-filter"') == 1 and "urgency=general" in page
    filter_id = re.search(r'/inbox/filters/(\d+)/delete', page).group(1)
    assert other.post(f"/inbox/filters/{filter_id}/delete", data={"csrf_token": token(other)}).status_code == 404
    marketing.post(f"/inbox/filters/{filter_id}/delete", data={"csrf_token": token(marketing)})
    assert 'data-testid="saved-filter"' not in text(marketing.get("/inbox/"))


def test_claim_race_one_wins_the_other_gets_a_clear_message(app, database):
    marketing, no, ids = three_cases(app, database)
    head = user_client(app, "marketing_head")
    with database.session() as s:
        task_id = open_task(s, ids["a"], "verify").id
    token_a, token_b = token(marketing, "/inbox/?tab=department"), token(head, "/inbox/?tab=department")
    # both saw the task unassigned; marketing's claim lands first
    first = marketing.post(f"/inbox/{task_id}/claim", data={"csrf_token": token_a}, follow_redirects=True)
    second = head.post(f"/inbox/{task_id}/claim", data={"csrf_token": token_b}, follow_redirects=True)
    assert "您已认领任务" in text(first)
    assert "已有其他人认领了此任务" in text(second)
    with database.session() as s:
        assert s.get(HumanTask, task_id).assignee_id == user_id(database, "marketing")
    assert row_ids(marketing, tab="mine") == [task_id]
    page = text(marketing.get("/inbox/"))
    assert re.search(r'data-testid="nav-count-inbox">1<', page)  # the badge on the Inbox nav entry


def test_head_assigns_and_reassigns_non_head_gets_403(app, database):
    marketing, no, ids = three_cases(app, database)
    head = user_client(app, "marketing_head")
    with database.session() as s:
        task_id = open_task(s, ids["a"], "verify").id
    marketing_id, head_id = user_id(database, "marketing"), user_id(database, "marketing_head")
    response = marketing.post(f"/inbox/{task_id}/assign", data={"assignee_id": head_id,
                                                                "csrf_token": token(marketing)})
    assert response.status_code == 403
    response = head.post(f"/inbox/{task_id}/assign", data={"assignee_id": marketing_id, "csrf_token": token(head)},
                         follow_redirects=True)
    assert response.status_code == 200
    with database.session() as s:
        assert s.get(HumanTask, task_id).assignee_id == marketing_id
        event = s.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                   AuditEvent.action == "task_assigned")).one()
        assert event.actor_id == head_id and event.data_after["assignee_id"] == marketing_id
    # reassign to someone outside the department: refused, nothing changes
    response = head.post(f"/inbox/{task_id}/assign", data={"assignee_id": user_id(database, "production"),
                                                           "csrf_token": token(head)}, follow_redirects=True)
    with database.session() as s:
        assert s.get(HumanTask, task_id).assignee_id == marketing_id
    # reassign to the head themself while someone else changed it meanwhile: stale expectation refused
    response = head.post(f"/inbox/{task_id}/assign", data={"assignee_id": head_id, "expected_assignee": "",
                                                           "csrf_token": token(head)}, follow_redirects=True)
    with database.session() as s:
        assert s.get(HumanTask, task_id).assignee_id == marketing_id
    head.post(f"/inbox/{task_id}/assign", data={"assignee_id": head_id, "expected_assignee": str(marketing_id),
                                                "csrf_token": token(head)})
    with database.session() as s:
        assert s.get(HumanTask, task_id).assignee_id == head_id


def _bulk_results(page: str) -> dict[str, tuple[bool, str]]:
    found = re.findall(r'data-testid="bulk-result" data-ok="(true|false)" data-task-id="([^"]+)">([^<]+)<', page)
    return {task_id: (ok == "true", message) for ok, task_id, message in found}


def test_bulk_claim_and_assign_report_each_item(app, database):
    marketing, no, ids = three_cases(app, database)
    head = user_client(app, "marketing_head")
    with database.session() as s:
        a = open_task(s, ids["a"], "verify").id
        b = open_task(s, ids["b"], "verify").id
        analysis_c = open_task(s, ids["c"], "analysis").id
    head.post(f"/inbox/{b}/claim", data={"csrf_token": token(head)})  # b is taken before the bulk claim
    response = marketing.post("/inbox/bulk", data={"action": "claim", "task_id": [a, b],
                                                   "csrf_token": token(marketing)}, follow_redirects=True)
    results = _bulk_results(text(response))
    assert results[a][0] is True
    assert results[b][0] is False and "已有其他人认领了此任务" in results[b][1]
    with database.session() as s:
        assert s.get(HumanTask, a).assignee_id == user_id(database, "marketing")
        assert s.get(HumanTask, b).assignee_id == user_id(database, "marketing_head")
    # bulk assign by the head: both Marketing tasks to marketing; Quality's task is refused
    response = head.post("/inbox/bulk", data={"action": "assign", "task_id": [a, b, analysis_c],
                                              "assignee_id": user_id(database, "marketing"),
                                              "csrf_token": token(head)}, follow_redirects=True)
    results = _bulk_results(text(response))
    assert results[a][0] and results[b][0] and not results[analysis_c][0]
    with database.session() as s:
        assert s.get(HumanTask, b).assignee_id == user_id(database, "marketing")
        assert s.get(HumanTask, analysis_c).assignee_id is None
    # a non-head's bulk assign fails item by item
    response = marketing.post("/inbox/bulk", data={"action": "assign", "task_id": [a],
                                                   "assignee_id": user_id(database, "marketing_head"),
                                                   "csrf_token": token(marketing)}, follow_redirects=True)
    assert _bulk_results(text(response))[a][0] is False


def test_delegate_with_return(app, database):
    marketing, no, ids = three_cases(app, database)
    head = user_client(app, "marketing_head")
    with database.session() as s:
        task_id = open_task(s, ids["a"], "verify").id
    head.post(f"/inbox/{task_id}/claim", data={"csrf_token": token(head)})
    response = head.post(f"/inbox/{task_id}/delegate", data={"delegate_id": user_id(database, "marketing"),
                                                             "note": "请先核实", "csrf_token": token(head)})
    assert response.status_code == 302
    assert row_ids(marketing, tab="mine") == [task_id]
    assert task_id in row_ids(head, tab="delegated")
    # the task page sends the delegate to the delegation page; the API refuses to complete
    response = marketing.get(f"/tasks/{task_id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/inbox/{task_id}/work")
    page = marketing.get(f"/inbox/{task_id}/work").get_data(as_text=True)
    assert 'data-testid="delegation-notice"' in page and "请先核实" in page
    csrf = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    submit = re.search(r'name="submit_token" value="([^"]+)"', page).group(1)
    draft = {**VERIFY_OK, "verify_note": "专员核实：信息齐全"}
    response = marketing.post(f"/inbox/{task_id}/work", data={**draft, "csrf_token": csrf, "submit_token": submit})
    assert response.status_code == 302
    with database.session() as s:
        task = s.get(HumanTask, task_id)
        assert task.state == "open"  # the delegate's submit did not complete the BPMN task
        assert task.assignee_id == user_id(database, "marketing_head")
        assert s.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                  AuditEvent.action == "task_completed")).first() is None
        delegation = s.scalars(select(TaskDelegation).where(TaskDelegation.task_id == task_id)).one()
        assert delegation.state == "returned" and delegation.draft["verify_note"] == "专员核实：信息齐全"
    assert row_ids(marketing, tab="mine") == []
    assert row_ids(head, tab="mine") == [task_id]
    assert "final-check" in head.get("/inbox/?tab=mine").get_data(as_text=True)
    # the delegator's final check: the form is prefilled with the draft
    response = head.get(f"/tasks/{task_id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/inbox/{task_id}/work")
    page = head.get(f"/inbox/{task_id}/work").get_data(as_text=True)
    assert 'data-testid="final-check-notice"' in page and "专员核实：信息齐全" in page
    csrf = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    submit = re.search(r'name="submit_token" value="([^"]+)"', page).group(1)
    final = {**draft, "verify_note": "主管复核：同意"}
    assert head.post(f"/inbox/{task_id}/work", data={**final, "csrf_token": csrf,
                                                    "submit_token": submit}).status_code == 302
    with database.session() as s:
        assert s.get(HumanTask, task_id).state == "completed"
        assert s.get(HumanTask, task_id).completed_by_id == user_id(database, "marketing_head")
        events = {e.action: e for e in s.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id))}
        assert events["delegation_returned"].actor_id == user_id(database, "marketing")
        assert events["task_completed"].actor_id == user_id(database, "marketing_head")
        assert events["task_completed"].data_after["verify_note"] == "主管复核：同意"
        assert "delegation_completed" in events and "task_delegated" in events
        assert s.scalars(select(TaskDelegation)).one().state == "completed"
        assert open_task(s, ids["a"], "analysis")  # the case moved on


def test_delegate_cannot_complete_through_the_api(app, database):
    from tests.conftest import api_token

    marketing, no, ids = three_cases(app, database)
    head = user_client(app, "marketing_head")
    with database.session() as s:
        task_id = open_task(s, ids["b"], "verify").id
    head.post(f"/inbox/{task_id}/claim", data={"csrf_token": token(head)})
    head.post(f"/inbox/{task_id}/delegate", data={"delegate_id": user_id(database, "marketing"),
                                                  "csrf_token": token(head)})
    response = app.test_client().post(f"/api/v1/tasks/{task_id}/complete",
                                      json={"data": {"info_complete": "yes", "measures": [{"action": "x"}]}},
                                      headers=api_token(app.test_client(), "marketing"))
    assert response.status_code == 403
    # the delegator takes it back
    head.post(f"/inbox/{task_id}/recall", data={"csrf_token": token(head)})
    with database.session() as s:
        assert s.get(HumanTask, task_id).assignee_id == user_id(database, "marketing_head")
        assert s.scalars(select(TaskDelegation)).one().state == "recalled"


def test_substitute_only_within_the_date_range(app, database):
    marketing, no, ids = three_cases(app, database)  # clock: 2026-03-02 (Shanghai)
    with database.session() as s:
        task_id = open_task(s, ids["a"], "verify").id
        queue_task = open_task(s, ids["b"], "verify").id
    with database.transaction() as s:  # a substitute comes from the principal's department
        department = s.scalar(select(Department.id).where(Department.code == "marketing"))
        save_user(s, "marketing_deputy", "营销代理", password="demo", departments={department: False})
    marketing.post(f"/inbox/{task_id}/claim", data={"csrf_token": token(marketing)})
    response = marketing.post("/inbox/substitutes", data={
        "substitute_id": user_id(database, "marketing_deputy"), "starts_on": "2026-03-04", "ends_on": "2026-03-05",
        "csrf_token": token(marketing, "/inbox/substitutes")})
    assert response.status_code == 302
    deputy = user_client(app, "marketing_deputy")
    assert task_id not in row_ids(deputy, tab="mine")  # before the range
    clock.set(datetime(2026, 3, 3, 16, 30, tzinfo=UTC))  # 2026-03-04 00:30 Shanghai: the first day
    assert row_ids(deputy, tab="mine") == [task_id]
    assert queue_task in row_ids(deputy, tab="department")
    assert "standing-in" in deputy.get("/inbox/").get_data(as_text=True)
    page = deputy.get(f"/tasks/{task_id}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    submit = re.search(r'name="submit_token" value="([^"]+)"', page).group(1)
    assert deputy.post(f"/tasks/{task_id}", data={**VERIFY_OK, "csrf_token": csrf,
                                                  "submit_token": submit}).status_code == 302
    with database.session() as s:
        assert s.get(HumanTask, task_id).state == "completed"
        event = s.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                   AuditEvent.action == "task_completed")).one()
        assert event.actor_id == user_id(database, "marketing_deputy")
        assert "on behalf of" in event.actor_label and "营销支持科专员" in event.actor_label
    clock.set(datetime(2026, 3, 5, 16, 30, tzinfo=UTC))  # 2026-03-06 Shanghai: after the range
    assert "standing-in" not in deputy.get("/inbox/").get_data(as_text=True)


def test_overdue_and_recently_completed_views(app, database):
    _marketing, no, ids = three_cases(app, database)
    quality = user_client(app, "quality")
    with database.session() as s:
        analysis = open_task(s, ids["c"], "analysis").id
    page = quality.get(f"/tasks/{analysis}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)
    submit = re.search(r'name="submit_token" value="([^"]+)"', page).group(1)
    quality.post(f"/tasks/{analysis}", data={"responsible_departments": "production", "csrf_token": csrf,
                                             "submit_token": submit})
    assert rows(quality, tab="completed") == [no["c"]]
    production = user_client(app, "production")
    assert rows(production, tab="overdue") == []
    clock.advance(timedelta(hours=49))  # the 8D report was due in 48 hours
    page = text(production.get("/inbox/?tab=overdue"))
    assert rows(production, tab="overdue") == [no["c"]]
    assert 'data-testid="overdue-badge"' in page and re.search(r'data-testid="count-overdue">1<', page)
    assert rows(_marketing, tab="overdue") == []  # not Marketing's


def test_tab_counts_and_badges_match_the_rows_of_each_tab(app, database):
    """The tab counts (one statement when unfiltered, one per tab when filtered) and the
    navigation's badges, which reuse them, agree with the rows each tab lists."""
    marketing, no, ids = three_cases(app, database)
    with database.session() as s:
        claimed = open_task(s, ids["a"], "verify").id
    assert marketing.post(f"/inbox/{claimed}/claim", data={"csrf_token": token(marketing)}).status_code == 302
    clock.advance(timedelta(days=10))  # long past every verification's due time
    for params in ({}, {"customer": "华东"}, {"customer": "华南"}):
        for tab in ("mine", "department", "overdue"):
            page = text(marketing.get("/inbox/", query_string={"tab": tab, **params}))
            counts = {key: int(n) for key, n in re.findall(r'data-testid="count-(\w+)">(\d+)<', page)}
            assert counts[tab] == len(rows(marketing, tab=tab, **params)), (tab, params)
            assert re.search(r'data-testid="nav-count-inbox">1<', page)  # mine, unfiltered
            assert re.search(r'data-testid="nav-queue-count"[^>]*>\+1<', page)  # b's verification
    page = text(marketing.get("/inbox/?tab=department"))
    assert re.search(r'data-testid="count-department">2<', page) and sorted(
        rows(marketing, tab="department")) == sorted([no["a"], no["b"]])
    assert re.search(r'data-testid="count-mine">1<', page)
