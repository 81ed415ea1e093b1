"""One definition of "matches an earlier case" for the early warning and the dashboard's repeat rate,
and cases corrected after intake leaving what they no longer match (clusters, repeat rate, root
causes). A small world built straight into the tables (period: March 2026, Shanghai time).

Rules: the defaults (model 3 in 30 days, batch 2 in 90, serial 2 in 365) and a serial prefix of
four characters, 3 in 90 days. Complaints unless said otherwise:

  B1 2 Mar  batch B-1;  B2 5 Mar batch B-1 → B2 repeats on the batch (the consultation Q1 on 4 Mar
            with batch B-1 does not count, neither as a repeat nor as an earlier case)
  S1 3 Mar  serial ABCD-1; S2 8 Mar serial ABCD-1 → S2 repeats on the serial (and, with S1, is
            2 of the 3 the prefix ABCD needs: no prefix repeat)
  P1 4 Mar, P2 6 Mar, P3 9 Mar serials PQRS-1/-2/-3 → P3 repeats on the prefix PQRS (P2: 1 earlier)
  M0 1 Feb, M1 10 Mar, M2 11 Mar, M3 12 Mar model M-5 → M3 repeats on the model (M1: M0 is outside
            30 days; M2: 1 earlier)
  L1 1 Jan batch B-2, L2 20 Mar batch B-2 (78 days later) → L2 repeats; O1 1 Dec 2025 batch B-3,
            O2 21 Mar batch B-3 (110 days later) → O2 does not
March: 13 cases received, 5 repeats (EXPECTED).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.clock import clock
from app.data.models import AuditEvent, Case, CaseRepeat, CaseRootCause, RepeatCluster
from app.data.queries import analytics as q
from app.engine.context import Actor
from app.services import alert_rules, alerts
from app.services.analytics import metrics
from app.services.analytics.filters import parse_filter
from app.services.analytics.naming import Labels
from app.services.analytics.projection import record_stock_count_cause, refresh_match_keys
from app.services.analytics.scope import window

SH = ZoneInfo("Asia/Shanghai")
ACTOR = Actor.system("test")
MARCH = parse_filter({"period": "month", "start": "2026-03-01"})
EXPECTED = {"B2", "S2", "P3", "M3", "L2"}
RULES = {**alert_rules.DEFAULT.as_json(), "prefix_length": 4, "serial_prefix": {"threshold": 3, "window_days": 90}}


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=SH).astimezone(UTC)


def add(session, number, received, model=None, serials=None, batch=None, type_="complaint") -> Case:
    case = Case(number=number, feedback_type=type_, customer_name="客户", product_model=model,
                serial_numbers=serials, batch_no=batch, received_at=received, status="open",
                public_token=number, data={})
    session.add(case)
    session.flush()
    alerts.project_intake(session, case)
    refresh_match_keys(session, case)
    return case


@pytest.fixture
def world(app, database):
    clock.set(at(2026, 3, 25))
    with database.transaction() as s:
        alert_rules.set_rules(s, RULES, ACTOR)
        for number, received, kwargs in [
            ("O1", at(2025, 12, 1), {"batch": "B-3"}), ("L1", at(2026, 1, 1), {"batch": "B-2"}),
            ("M0", at(2026, 2, 1), {"model": "M-5"}),
            ("B1", at(2026, 3, 2), {"batch": "B-1"}), ("S1", at(2026, 3, 3), {"serials": "ABCD-1"}),
            ("Q1", at(2026, 3, 4), {"batch": "B-1", "type_": "consultation"}),
            ("P1", at(2026, 3, 4), {"serials": "PQRS-1"}), ("B2", at(2026, 3, 5), {"batch": "B-1"}),
            ("P2", at(2026, 3, 6), {"serials": "PQRS-2"}), ("S2", at(2026, 3, 8), {"serials": "ABCD-1"}),
            ("P3", at(2026, 3, 9), {"serials": "PQRS-3"}), ("M1", at(2026, 3, 10), {"model": "M-5"}),
            ("M2", at(2026, 3, 11), {"model": "M-5"}), ("M3", at(2026, 3, 12), {"model": "M-5"}),
            ("L2", at(2026, 3, 20), {"batch": "B-2"}), ("O2", at(2026, 3, 21), {"batch": "B-3"}),
        ]:
            add(s, number, received, **kwargs)
    return database


def _numbers(session, ids) -> set[str]:
    return set(session.scalars(select(Case.number).where(Case.id.in_(ids or {-1}))))


def _repeats(session) -> set[str]:
    """The repeat rate's cases of March: their stored flags."""
    return _numbers(session, q.repeat_case_ids(session, window(session, MARCH)))


def _flagged(session) -> set[str]:
    """Every case whose stored flag says it repeats."""
    return set(session.scalars(select(Case.number).join(CaseRepeat, CaseRepeat.case_id == Case.id)))


def _by_definition(session) -> set[str]:
    """Every case that repeats, worked out now by the definition (not the stored flags)."""
    rules = alert_rules.rules(session)
    condition = q.repeat_condition(session, alert_rules.repeat_rules(rules), rules.types)
    return set(session.scalars(select(Case.number).where(condition)))


def _by_the_early_warning(session) -> set[str]:
    cases = session.scalars(select(Case).where(Case.received_at >= MARCH.start_utc,
                                               Case.received_at < MARCH.end_utc)).all()
    return {c.number for c in cases if alerts.matches_earlier(session, c)}


def test_the_repeat_rate_counts_what_the_early_warning_matches(world):
    with world.transaction() as s:
        assert _repeats(s) == EXPECTED
        assert _by_the_early_warning(s) == EXPECTED
        assert _flagged(s) == _by_definition(s) == EXPECTED
        figures = metrics.repeat_rate(s, MARCH, Labels(s))
        assert (figures["cases"], figures["repeats"], figures["rate"]) == (13, 5, 38.5)
        assert figures["kinds"] == ["model", "batch", "serial", "serial_prefix"]


def test_switching_a_dimension_off_changes_both_alike(world):
    with world.transaction() as s:
        alert_rules.set_rules(s, {**RULES, "batch": {"threshold": 0, "window_days": 90}}, ACTOR)
        assert _repeats(s) == _by_the_early_warning(s) == _flagged(s) == EXPECTED - {"B2", "L2"}
        alert_rules.set_rules(s, {**RULES, "types": ["complaint", "consultation"]}, ACTOR)
        # the consultation Q1 now counts: it repeats B1's batch, and B2 still repeats (B1, Q1 earlier)
        assert _repeats(s) == _by_the_early_warning(s) == _flagged(s) == EXPECTED | {"Q1"}


def _cluster(s, dimension, key) -> RepeatCluster:
    return s.scalars(select(RepeatCluster).where(RepeatCluster.dimension == dimension,
                                                 RepeatCluster.key == key)).one()


def test_a_case_corrected_away_leaves_the_clusters_it_no_longer_matches(world):
    with world.transaction() as s:
        by_number = {c.number: c for c in s.scalars(select(Case))}
        for number in ("S1", "S2", "B1", "B2"):
            alerts.evaluate(s, by_number[number], ACTOR)
        third = add(s, "S3", at(2026, 3, 22), serials="ABCD-1", batch="B-1")
        alerts.evaluate(s, third, ACTOR)
        serial, batch = _cluster(s, "serial", "ABCD-1"), _cluster(s, "batch", "B-1")
        prefix = _cluster(s, "serial_prefix", "ABCD")  # S1, S2 and S3: three within 90 days
        assert (serial.case_count, batch.case_count, prefix.case_count) == (3, 3, 3)

        # S3's serial and batch corrected after intake (the analytics hook notices the changed keys)
        third.serial_numbers, third.batch_no = "ZZZZ-9", "B-7"
        refresh_match_keys(s, third, ACTOR)
        s.flush()
        assert (serial.case_count, serial.last_case_id) == (2, by_number["S2"].id)
        assert (batch.case_count, batch.last_case_id) == (2, by_number["B2"].id)
        assert {c.number for c, _ in alerts.queries.cluster_cases(s, serial.id)} == {"S1", "S2"}
        assert alerts.queries.case_serials(s, third.id) == ["ZZZZ-9"]
        left = s.scalars(select(AuditEvent).where(AuditEvent.action == alerts.LEFT)).all()
        assert {(e.case_id, e.element) for e in left} == {(third.id, f"alert:{c.id}") for c in (serial, batch, prefix)}
        assert alerts.related(s, third) == []  # the case page shows no earlier cases any more

        # S1 reclassified as a consultation: it leaves, the cluster keeps S2 (below the threshold, listed);
        # the early warning is told by the reclassification, the flags by the analytics hook after the save
        by_number["S1"].feedback_type = "consultation"
        alerts.evaluate(s, by_number["S1"], ACTOR)
        refresh_match_keys(s, by_number["S1"], ACTOR)
        s.flush()
        assert (serial.case_count, serial.first_case_id, serial.last_case_id) == (1, by_number["S2"].id,
                                                                                  by_number["S2"].id)
        # and the repeat rate follows: S2 has no earlier complaint with its serial any more
        assert _repeats(s) == _by_the_early_warning(s) == EXPECTED - {"S2"}
        assert _flagged(s) == _by_definition(s)

        # evaluating again changes nothing
        before = s.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
        alerts.evaluate(s, third, ACTOR)
        alerts.evaluate(s, by_number["S1"], ACTOR)
        assert s.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) == before


def test_a_later_stock_count_naming_no_cause_removes_the_earlier_one(world):
    with world.transaction() as s:
        case = s.scalars(select(Case).where(Case.number == "B1")).one()

        def causes():
            return list(s.scalars(select(CaseRootCause.category).where(CaseRootCause.case_id == case.id)))

        record_stock_count_cause(s, case, {"stock_count_outcome": "warehouse_problem"}, True)
        assert causes() == ["logistics"]
        record_stock_count_cause(s, case, {"stock_count_outcome": "quality_problem"}, False)
        assert causes() == ["logistics"]  # no count entered in this operation: nothing to correct
        record_stock_count_cause(s, case, {"stock_count_outcome": "quality_problem"}, True)
        assert causes() == []
        record_stock_count_cause(s, case, {"stock_count_outcome": "customer_info_inaccurate"}, False)
        assert causes() == ["no_trouble_found"]


def test_the_stored_flags_follow_earlier_cases_added_or_corrected_later(world):
    with world.transaction() as s:
        by_number = {c.number: c for c in s.scalars(select(Case))}
        # a complaint about M-5 received on 9 Mar, recorded after the later ones: M1 (10 Mar) has 1 earlier
        # case within 30 days (M0 is 37 days before), M2 has 2 (M9, M1): M2 repeats now
        add(s, "M9", at(2026, 3, 9), model="M-5")
        assert _flagged(s) == _by_definition(s) == EXPECTED | {"M2"}
        # B1 corrected to another batch: B2 has no earlier case with B-1 any more
        by_number["B1"].batch_no = "B-9"
        refresh_match_keys(s, by_number["B1"], ACTOR)
        assert _flagged(s) == _by_definition(s) == (EXPECTED | {"M2"}) - {"B2"}
        # and back: B2 repeats again; a serial corrected into ABCD-1 makes S2's prefix group three
        by_number["B1"].batch_no = "B-1"
        refresh_match_keys(s, by_number["B1"], ACTOR)
        by_number["P1"].serial_numbers = "ABCD-2"
        refresh_match_keys(s, by_number["P1"], ACTOR)
        # P1 (4 Mar) now has S1's prefix before it; S2 (8 Mar) has S1 and P1: a prefix repeat still;
        # P3 keeps P2 only before it on PQRS: no longer a repeat
        assert _flagged(s) == _by_definition(s) == (EXPECTED | {"M2"}) - {"P3"}
        assert metrics.repeat_rate(s, MARCH, Labels(s))["repeats"] == len(_repeats(s)) == 5


def test_one_statement_serves_every_case(world):
    """A case's flag refresh is the same statement for every case (its id a parameter, the
    definition built once per rule set): compiled once, not for each new case."""
    since, until = at(2026, 3, 1), at(2026, 4, 1)
    keys, prefixes = [("model", "M-5"), ("serial", "ABCD-1")], ["PQRS"]
    first = q.sharing_keys(1, since, until, keys, prefixes)
    second = q.sharing_keys(2, since, until, [("model", "X-1"), ("serial", "ZZZZ-9")], ["ABCD"])
    assert first._generate_cache_key() == second._generate_cache_key()
    with world.transaction() as s:
        rules = alert_rules.rules(s)
        on = alert_rules.repeat_rules(rules)
        assert q.repeat_condition(s, on, rules.types) is q.repeat_condition(s, list(on), list(rules.types))
        fewer = [rule for rule in on if rule.dimension != "batch"]
        assert q.repeat_condition(s, fewer, rules.types) is not q.repeat_condition(s, on, rules.types)
        # the flags the shared statement stores for two cases are each their own
        ids = {c.number: c.id for c in s.scalars(select(Case).where(Case.number.in_(["M3", "M2"])))}
        for number in ("M3", "M2"):
            q.refresh_repeats(s, q.sharing_keys(ids[number], since, since, (), ()), on, rules.types)
        assert _flagged(s) == EXPECTED
