"""Events → facts and roll-ups, in the transaction that claims them (the consumer's, or the replay's).

``apply_events`` writes a batch of claimed events: every progress event in a handful of bulk statements (its
fact, then the folded roll-ups: per learner per asset and per module, per learner per course, per course per
day, activity days, nudge outcomes), the rarer user, course, enrollment and nudge events one by one, in delivery order.

Events of different topics may come in any order (events.md): a progress event before its
``enrollment.created`` makes the enrollment row, which the enrollment event completes; sums add and the
latest reading wins by ``occurred_at``, so the order does not change the result. Rows are written in key
order, so two consumers (one per topic) writing the same rows cannot deadlock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any

from smartcourse.consumers import claim_new, typed_payload
from smartcourse_events.envelope import EventEnvelope
from sqlalchemy import (
    Connection,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, Insert, insert

from smartcourse_analytics import tables as t
from smartcourse_analytics.at_risk import NUDGE_RETURN_WINDOW
from smartcourse_analytics.catalogue import CONSUMED_EVENT_TYPES
from smartcourse_analytics.domain import CourseStatus, EnrollmentStatus
from smartcourse_analytics.rollups import EnrollmentEvent, ProgressEvent, fold_enrollment_events, fold_progress

CONSUMER_NAME = "analytics-events"

_CONSUMED = frozenset(CONSUMED_EVENT_TYPES)


def ingest(conn: Connection, envelopes: Sequence[EventEnvelope]) -> int:
    """Claim the consumed events of ``envelopes`` not applied before and apply them; how many were applied."""
    new = claim_new(conn, CONSUMER_NAME, [e for e in envelopes if e.event_type in _CONSUMED])
    apply_events(new, conn)
    return len(new)


def apply_events(envelopes: Sequence[EventEnvelope], conn: Connection) -> None:
    registrations = [e for e in envelopes if e.event_type == "user.registered"]
    enrollment_topic = [e for e in envelopes if e.event_type in _ENROLLMENT_TOPIC]
    progress = [e for e in envelopes if e.event_type == "progress.updated"]
    if registrations:
        _apply_registrations(conn, registrations)
    # Rare kinds, one by one in delivery order (a user's role change after their registration: same key).
    for envelope in envelopes:
        apply = _APPLY.get(envelope.event_type)
        if apply is not None:
            apply(envelope, conn)
    if enrollment_topic:
        _apply_enrollment_topic(conn, enrollment_topic)
    if progress:
        _apply_progress(conn, [_progress_event(e) for e in progress])


def apply_one(envelope: EventEnvelope, conn: Connection) -> None:
    """The per-record effect (the consumer's fallback when a batch fails): the payload in the contract's own
    spelling first (the bulk path reads payloads as producers write them, through ``build_event``; an event
    spelt otherwise, say an upper-case id, still applies here)."""
    canonical = typed_payload(envelope).model_dump(mode="json")
    apply_events([envelope.model_copy(update={"payload": canonical})], conn)


# --- progress -----------------------------------------------------------------------------------------------

def _progress_event(envelope: EventEnvelope) -> ProgressEvent:
    # The payload was validated when the event was parsed (consumer and replay alike): read it as it is.
    p = envelope.payload
    return ProgressEvent(
        event_id=str(envelope.event_id), enrollment_id=p["enrollment_id"], user_id=p["user_id"],
        course_id=p["course_id"], module_id=p["module_id"], asset_id=p["asset_id"],
        progress_percent=p["progress_percent"], time_spent_delta=p["time_spent_delta"],
        course_percent=p["course_percent"], occurred_at=envelope.occurred_at,
    )


def _json_rows(rows: Iterable[dict[str, Any]]) -> str:
    return json.dumps([{k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()} for row in rows],
                      default=str)


def _incoming_is_later(table: Table, excluded: Any, at: str, percent: str, module: str) -> Any:
    """SQL of ``rollups.reading_order``: the incoming reading is the latest one (or the row has none yet)."""
    stored = table.c
    return or_(stored[at].is_(None), tuple_(excluded[at], excluded[percent], cast(excluded[module], Text))
               >= tuple_(stored[at], stored[percent], cast(stored[module], Text)))


def _recordset(table: Table, names: Sequence[str]) -> Any:
    """The batch as rows shaped like ``table``'s ``names`` columns: ``jsonb_to_recordset`` of one JSON
    parameter, ``batch`` (one parameter per batch, where executemany sends a statement per row and array
    parameters cost a parse per element on the client); the same SQL for every batch size."""
    return func.jsonb_to_recordset(cast(bindparam("batch", type_=Text), JSONB)) \
        .table_valued(*(column(name, table.c[name].type) for name in names)) \
        .render_derived(name="batch", with_types=True)


def _bulk(table: Table, names: Sequence[str]) -> Insert:
    """INSERT … SELECT FROM the batch's recordset."""
    source = _recordset(table, names)
    return insert(table).from_select(list(names), select(*(source.c[name] for name in names)))


_FACT_COLUMNS = ("event_id", "enrollment_id", "user_id", "course_id", "module_id", "asset_id", "progress_percent",
                 "time_spent_delta", "course_percent", "occurred_at")
_ENROLLMENT_COLUMNS = ("enrollment_id", "user_id", "course_id", "percent_complete", "percent_at", "current_module_id",
                       "time_spent_seconds", "progress_events", "first_activity_at", "last_activity_at", "status",
                       "enrollment_seen", "enrolled_at")
# Per learner per asset, and per module by what the asset rows changed: the module counts move by the assets
# the batch started (rows new to the table) and the ones it took to 100 % (their readings before this statement,
# from the same snapshot: a data-modifying WITH does not see its own writes). The latest reading wins as in
# ``rollups.reading_order``. Module rows are written in key order (as every roll-up: no lock-order cycle).
_ASSETS_AND_MODULES_SQL = """
WITH batch AS (
    SELECT * FROM jsonb_to_recordset(CAST(:batch AS jsonb)) AS b(
        enrollment_id uuid, asset_id uuid, user_id uuid, course_id uuid, module_id uuid,
        progress_percent numeric(5, 2), time_spent_seconds bigint,
        first_progress_at timestamptz, last_progress_at timestamptz)
), before AS (
    SELECT ap.enrollment_id, ap.asset_id, ap.progress_percent
    FROM asset_progress ap JOIN batch b ON ap.enrollment_id = b.enrollment_id AND ap.asset_id = b.asset_id
), written AS (
    INSERT INTO asset_progress AS ap (enrollment_id, asset_id, user_id, course_id, module_id, progress_percent,
                                      time_spent_seconds, first_progress_at, last_progress_at)
    SELECT enrollment_id, asset_id, user_id, course_id, module_id, progress_percent, time_spent_seconds,
           first_progress_at, last_progress_at
    FROM batch
    ON CONFLICT (enrollment_id, asset_id) DO UPDATE SET
        time_spent_seconds = ap.time_spent_seconds + excluded.time_spent_seconds,
        progress_percent = CASE
            WHEN (excluded.last_progress_at, excluded.progress_percent, excluded.module_id::text)
                 >= (ap.last_progress_at, ap.progress_percent, ap.module_id::text)
            THEN excluded.progress_percent ELSE ap.progress_percent END,
        first_progress_at = least(ap.first_progress_at, excluded.first_progress_at),
        last_progress_at = greatest(ap.last_progress_at, excluded.last_progress_at)
    RETURNING ap.enrollment_id, ap.asset_id, ap.module_id, ap.user_id, ap.course_id, ap.progress_percent,
              ap.first_progress_at, ap.last_progress_at
), moved AS (
    SELECT w.enrollment_id, w.module_id, w.user_id, w.course_id,
           count(*) FILTER (WHERE b.asset_id IS NULL) AS assets_started,
           count(*) FILTER (WHERE w.progress_percent >= 100 AND coalesce(b.progress_percent, 0) < 100)
             - count(*) FILTER (WHERE w.progress_percent < 100 AND b.progress_percent >= 100) AS assets_completed,
           min(w.first_progress_at) AS first_progress_at, max(w.last_progress_at) AS last_progress_at
    FROM written w LEFT JOIN before b ON b.enrollment_id = w.enrollment_id AND b.asset_id = w.asset_id
    GROUP BY w.enrollment_id, w.module_id, w.user_id, w.course_id
)
INSERT INTO module_progress AS mp (enrollment_id, module_id, user_id, course_id, assets_started, assets_completed,
                                   first_progress_at, last_progress_at)
SELECT enrollment_id, module_id, user_id, course_id, assets_started, assets_completed, first_progress_at,
       last_progress_at
FROM moved ORDER BY enrollment_id, module_id
ON CONFLICT (enrollment_id, module_id) DO UPDATE SET
    assets_started = mp.assets_started + excluded.assets_started,
    assets_completed = mp.assets_completed + excluded.assets_completed,
    first_progress_at = least(mp.first_progress_at, excluded.first_progress_at),
    last_progress_at = greatest(mp.last_progress_at, excluded.last_progress_at)
"""


@cache
def _progress_statements() -> dict[str, Any]:
    """The progress path's statements, built once per process (each batch only binds its JSON)."""
    facts = _bulk(t.progress_facts, _FACT_COLUMNS).on_conflict_do_nothing()

    assets = text(_ASSETS_AND_MODULES_SQL)

    en = _bulk(t.enrollments, _ENROLLMENT_COLUMNS)
    ex, e_ = en.excluded, t.enrollments.c
    later = _incoming_is_later(t.enrollments, ex, "percent_at", "percent_complete", "current_module_id")
    enrollments = en.on_conflict_do_update(index_elements=[e_.enrollment_id], set_={
        "time_spent_seconds": e_.time_spent_seconds + ex.time_spent_seconds,
        "progress_events": e_.progress_events + ex.progress_events,
        "first_activity_at": func.least(e_.first_activity_at, ex.first_activity_at),
        "last_activity_at": func.greatest(e_.last_activity_at, ex.last_activity_at),
        "percent_complete": case((later, ex.percent_complete), else_=e_.percent_complete),
        "current_module_id": case((later, ex.current_module_id), else_=e_.current_module_id),
        "percent_at": func.greatest(e_.percent_at, ex.percent_at),
        # Until its enrollment.created arrives, a row made by progress dates from its first activity.
        "enrolled_at": case((e_.enrollment_seen, e_.enrolled_at), else_=func.least(e_.enrolled_at, ex.enrolled_at)),
    })

    cd = _bulk(t.course_daily, ("course_id", "day", "progress_events", "time_spent_seconds"))
    c = t.course_daily.c
    course_days = cd.on_conflict_do_update(index_elements=[c.course_id, c.day], set_={
        "progress_events": c.progress_events + cd.excluded.progress_events,
        "time_spent_seconds": c.time_spent_seconds + cd.excluded.time_spent_seconds})
    return {
        "facts": facts, "assets": assets, "enrollments": enrollments, "course_days": course_days,
        "activity": _bulk(t.activity_days, ("course_id", "user_id", "day")).on_conflict_do_nothing(),
        "user_activity": _bulk(t.user_activity_days, ("user_id", "day")).on_conflict_do_nothing(),
    }


def _run(conn: Connection, statement: Any, rows: Iterable[dict[str, Any]]) -> None:
    conn.execute(statement, {"batch": _json_rows(rows)})


def _apply_progress(conn: Connection, events: list[ProgressEvent]) -> None:
    sql = _progress_statements()
    _run(conn, sql["facts"], ({name: getattr(e, name) for name in _FACT_COLUMNS} for e in events))
    folded = fold_progress(events)
    assets = sorted(folded.assets, key=lambda a: (str(a.enrollment_id), str(a.asset_id)))
    _run(conn, sql["assets"], (vars(a) for a in assets))
    _run(conn, sql["enrollments"], (
        {**vars(d), "status": EnrollmentStatus.ACTIVE.value, "enrollment_seen": False,
         "enrolled_at": d.first_activity_at}
        for d in sorted(folded.enrollments, key=lambda d: str(d.enrollment_id))))
    _run(conn, sql["course_days"], (vars(d) for d in sorted(folded.course_days, key=lambda d: (str(d.course_id),
                                                                                               d.day))))
    _run(conn, sql["activity"], ({"course_id": c, "user_id": u, "day": d} for c, u, d in folded.activity_days))
    _run(conn, sql["user_activity"], ({"user_id": u, "day": d} for u, d in folded.user_activity_days))
    _mark_returned_nudges(conn, events)


def _mark_returned_nudges(conn: Connection, events: list[ProgressEvent]) -> None:
    """Nudges of these learners still open: answered by their first progress within the window."""
    # Only nudges this batch can answer: sent within the window before its earliest event (older open ones,
    # never answered, would otherwise keep every batch querying).
    since = min(e.occurred_at for e in events) - NUDGE_RETURN_WINDOW
    n = t.nudges.c
    open_now = and_(n.returned_at.is_(None), n.sent_at >= since)
    if conn.execute(select(literal(1)).select_from(t.nudges).where(open_now).limit(1)).first() is None:
        return
    pairs = sorted({(uuid.UUID(str(e.user_id)), uuid.UUID(str(e.course_id))) for e in events})
    open_nudges = conn.execute(select(n.nudge_id, n.user_id, n.course_id, n.sent_at).where(
        open_now, tuple_(n.user_id, n.course_id).in_(pairs))).all()
    for nudge_id, user_id, course_id, sent_at in open_nudges:
        back = [e.occurred_at for e in events if str(e.user_id) == str(user_id) and str(e.course_id) == str(course_id)
                and sent_at < e.occurred_at <= sent_at + NUDGE_RETURN_WINDOW]
        if back:
            conn.execute(update(t.nudges).where(n.nudge_id == nudge_id).values(returned_at=min(back)))


# --- users --------------------------------------------------------------------------------------------------

def _apply_registrations(conn: Connection, envelopes: Sequence[EventEnvelope]) -> None:
    # One row per user (the last registration of the batch), in key order.
    rows: dict[str, dict[str, Any]] = {}
    for envelope in envelopes:
        p = envelope.payload
        rows[p["user_id"]] = {"user_id": p["user_id"], "full_name": p.get("full_name"),
                              "roles": sorted(p["roles"]), "registered_at": envelope.occurred_at}
    _run(conn, _registration_statement(), (rows[user_id] for user_id in sorted(rows)))


@cache
def _registration_statement() -> Any:
    stmt = _bulk(t.users, ("user_id", "full_name", "roles", "registered_at"))
    # User events share a key (the user), so a role change never comes before its registration.
    return stmt.on_conflict_do_update(index_elements=[t.users.c.user_id], set_={
        "full_name": stmt.excluded.full_name, "registered_at": stmt.excluded.registered_at,
        "roles": stmt.excluded.roles})


def _user_email_verified(envelope: EventEnvelope, conn: Connection) -> None:
    p: Any = typed_payload(envelope)
    stmt = insert(t.users).values(user_id=p.user_id, email_verified_at=envelope.occurred_at)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.users.c.user_id],
                                            set_={"email_verified_at": stmt.excluded.email_verified_at}))


def _user_role_changed(envelope: EventEnvelope, conn: Connection) -> None:
    p: Any = typed_payload(envelope)
    current = conn.execute(select(t.users.c.roles).where(t.users.c.user_id == p.user_id)).scalar_one_or_none()
    roles = set(current or [])
    if p.granted:
        roles.add(str(p.role))
    else:
        roles.discard(str(p.role))
    stmt = insert(t.users).values(user_id=p.user_id, roles=sorted(roles))
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.users.c.user_id],
                                            set_={"roles": stmt.excluded.roles}))


# --- courses ------------------------------------------------------------------------------------------------

def _course_created(envelope: EventEnvelope, conn: Connection) -> None:
    p: Any = typed_payload(envelope)
    stmt = insert(t.courses).values(course_id=p.course_id, instructor_id=p.instructor_id, title=p.title,
                                    status=CourseStatus.DRAFT.value, created_at=envelope.occurred_at)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.courses.c.course_id], set_={
        "created_at": stmt.excluded.created_at}))


def _course_published(envelope: EventEnvelope, conn: Connection) -> None:
    p: Any = typed_payload(envelope)
    stmt = insert(t.courses).values(course_id=p.course_id, instructor_id=p.instructor_id, title=p.title,
                                    status=CourseStatus.PUBLISHED.value, published_at=p.published_at)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.courses.c.course_id], set_={
        "instructor_id": stmt.excluded.instructor_id, "title": stmt.excluded.title,
        "status": stmt.excluded.status, "published_at": stmt.excluded.published_at}))
    module_ids = [m.module_id for m in p.modules]
    conn.execute(t.modules.delete().where(t.modules.c.course_id == p.course_id,
                                          t.modules.c.module_id.not_in(module_ids)))
    mods = insert(t.modules)
    conn.execute(mods.on_conflict_do_update(index_elements=[t.modules.c.module_id], set_={
        "course_id": mods.excluded.course_id, "title": mods.excluded.title,
        "order_index": mods.excluded.order_index, "asset_count": mods.excluded.asset_count,
    }), [{"module_id": m.module_id, "course_id": p.course_id, "title": m.title, "order_index": i,
          "asset_count": len(m.assets)} for i, m in enumerate(p.modules)])
    asset_rows = [{"asset_id": a.asset_id, "course_id": p.course_id, "module_id": m.module_id}
                  for m in p.modules for a in m.assets]
    conn.execute(t.assets.delete().where(t.assets.c.course_id == p.course_id,
                                         t.assets.c.asset_id.not_in([r["asset_id"] for r in asset_rows])))
    assets = insert(t.assets)
    conn.execute(assets.on_conflict_do_update(index_elements=[t.assets.c.asset_id], set_={
        "course_id": assets.excluded.course_id, "module_id": assets.excluded.module_id}), asset_rows)


def _course_archived(envelope: EventEnvelope, conn: Connection) -> None:
    p: Any = typed_payload(envelope)
    conn.execute(update(t.courses).where(t.courses.c.course_id == p.course_id)
                 .values(status=CourseStatus.ARCHIVED.value, archived_at=envelope.occurred_at))


# --- enrollments --------------------------------------------------------------------------------------------

_ENROLLMENT_TOPIC = frozenset({"enrollment.created", "enrollment.dropped", "enrollment.completed",
                               "certificate.issued"})
# When each kind happened by its payload (else: by its envelope).
_PAYLOAD_TIME = {"enrollment.created": "enrolled_at", "enrollment.completed": "completed_at"}


def _enrollment_event(envelope: EventEnvelope) -> EnrollmentEvent:
    p = envelope.payload
    field_name = _PAYLOAD_TIME.get(envelope.event_type)
    at = datetime.fromisoformat(p[field_name]) if field_name else envelope.occurred_at
    return EnrollmentEvent(envelope.event_type, p["enrollment_id"], p["user_id"], p["course_id"], at)


def _apply_enrollment_topic(conn: Connection, envelopes: Sequence[EventEnvelope]) -> None:
    """Facts, the enrollment rows (each enrollment's events in delivery order) and the day counts, in bulk."""
    events = [_enrollment_event(e) for e in envelopes]
    _run(conn, _enrollment_fact_statement(), (
        {"event_id": str(envelope.event_id), "event_type": e.event_type, "enrollment_id": e.enrollment_id,
         "user_id": e.user_id, "course_id": e.course_id, "occurred_at": envelope.occurred_at}
        for envelope, e in zip(envelopes, events, strict=True)))
    ids = sorted({str(e.enrollment_id) for e in events if e.event_type == "enrollment.created"})
    seen = conn.execute(select(t.enrollments.c.enrollment_id).where(
        t.enrollments.c.enrollment_id.in_(ids), t.enrollments.c.enrollment_seen)).scalars().all() if ids else []
    changes, days = fold_enrollment_events(events, already_seen=seen)
    # One statement over the rows in key order (so that it and a progress batch lock them in the same order).
    _run(conn, _enrollment_statement(), (
        {"enrollment_id": c.enrollment_id, "user_id": c.user_id, "course_id": c.course_id,
         "status": c.changes["status"], "enrollment_seen": c.changes.get("enrollment_seen", False),
         "enrolled_at": c.changes.get("enrolled_at", c.first_at), "dropped_at": c.changes.get("dropped_at"),
         "completed_at": c.changes.get("completed_at")}
        for c in sorted(changes, key=lambda c: str(c.enrollment_id)) if c.changes))
    _run(conn, _day_count_statement(), (
        {"course_id": course_id, "day": day, **dict.fromkeys(_DAY_COUNTS, 0), **counts}
        for (course_id, day), counts in sorted(days.items(), key=lambda item: (str(item[0][0]), item[0][1]))))


_DAY_COUNTS = ("enrolled", "completed", "dropped", "certificates")


@cache
def _enrollment_fact_statement() -> Any:
    return _bulk(t.enrollment_facts, ("event_id", "event_type", "enrollment_id", "user_id", "course_id",
                                      "occurred_at")).on_conflict_do_nothing()


@cache
def _enrollment_statement() -> Any:
    """Upsert enrollment rows with what a batch's enrollment events left on them (a row may not exist yet: its
    events raced its progress). ``enrollment_seen`` true: the batch held its enrollment.created, which sets the
    enrollment date and clears a drop; otherwise those stay; a completion date, once set, stays."""
    stmt = _bulk(t.enrollments, ("enrollment_id", "user_id", "course_id", "status", "enrollment_seen",
                                 "enrolled_at", "dropped_at", "completed_at"))
    x, e = stmt.excluded, t.enrollments.c
    return stmt.on_conflict_do_update(index_elements=[e.enrollment_id], set_={
        "status": x.status,
        "enrollment_seen": or_(e.enrollment_seen, x.enrollment_seen),
        "enrolled_at": case((x.enrollment_seen, x.enrolled_at), else_=e.enrolled_at),
        "dropped_at": case((x.dropped_at.is_not(None), x.dropped_at), (x.enrollment_seen, None),
                           else_=e.dropped_at),
        "completed_at": func.coalesce(x.completed_at, e.completed_at),
    })


@cache
def _day_count_statement() -> Any:
    stmt = _bulk(t.course_daily, ("course_id", "day", *_DAY_COUNTS))
    c = t.course_daily.c
    return stmt.on_conflict_do_update(index_elements=[c.course_id, c.day],
                                      set_={name: c[name] + stmt.excluded[name] for name in _DAY_COUNTS})


# --- nudges -------------------------------------------------------------------------------------------------

def _nudge_requested(envelope: EventEnvelope, conn: Connection) -> None:
    """The nudge as the API recorded it (a no-op live; a rebuild from the archive restores it)."""
    p: Any = typed_payload(envelope)
    conn.execute(insert(t.nudges).on_conflict_do_nothing().values(
        nudge_id=p.nudge_id, course_id=p.course_id, user_id=p.user_id, sender_id=p.instructor_id,
        message=p.message, sent_at=envelope.occurred_at, sent_on=envelope.occurred_at.date()))


# The kinds applied one by one (the others go in bulk: registrations, the enrollment topic, progress).
_APPLY: dict[str, Callable[[EventEnvelope, Connection], None]] = {
    "user.email_verified": _user_email_verified,
    "user.role_changed": _user_role_changed,
    "course.created": _course_created,
    "course.published": _course_published,
    "course.archived": _course_archived,
    "learner.nudge_requested": _nudge_requested,
}
_BULK = _ENROLLMENT_TOPIC | {"user.registered", "progress.updated"}
if set(_APPLY) | _BULK != _CONSUMED:  # pragma: no cover - a catalogue edit missed this module
    raise RuntimeError("every consumed event type needs exactly one writer")
