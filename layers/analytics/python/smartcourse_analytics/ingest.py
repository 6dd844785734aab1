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
from collections.abc import Callable, Sequence
from decimal import Decimal
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
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, Insert, insert

from smartcourse_analytics import tables as t
from smartcourse_analytics.at_risk import NUDGE_RETURN_WINDOW
from smartcourse_analytics.catalogue import CONSUMED_EVENT_TYPES
from smartcourse_analytics.domain import CourseStatus, EnrollmentStatus
from smartcourse_analytics.rollups import AssetDelta, ProgressEvent, fold_progress

CONSUMER_NAME = "analytics-events"

_CONSUMED = frozenset(CONSUMED_EVENT_TYPES)


def ingest(conn: Connection, envelopes: Sequence[EventEnvelope]) -> int:
    """Claim the consumed events of ``envelopes`` not applied before and apply them; how many were applied."""
    new = claim_new(conn, CONSUMER_NAME, [e for e in envelopes if e.event_type in _CONSUMED])
    apply_events(new, conn)
    return len(new)


def apply_events(envelopes: Sequence[EventEnvelope], conn: Connection) -> None:
    progress = [e for e in envelopes if e.event_type == "progress.updated"]
    for envelope in envelopes:
        if envelope.event_type != "progress.updated":
            _APPLY[envelope.event_type](envelope, conn)
    if progress:
        _apply_progress(conn, [_progress_event(e) for e in progress])


def apply_one(envelope: EventEnvelope, conn: Connection) -> None:
    """The per-record effect (the consumer's fallback when a batch fails)."""
    apply_events([envelope], conn)


# --- progress -----------------------------------------------------------------------------------------------

def _progress_event(envelope: EventEnvelope) -> ProgressEvent:
    p: Any = typed_payload(envelope)
    return ProgressEvent(
        event_id=envelope.event_id, enrollment_id=p.enrollment_id, user_id=p.user_id, course_id=p.course_id,
        module_id=p.module_id, asset_id=p.asset_id, progress_percent=Decimal(str(p.progress_percent)),
        time_spent_delta=p.time_spent_delta, course_percent=Decimal(str(p.course_percent)),
        occurred_at=envelope.occurred_at,
    )


def _incoming_is_later(table: Table, excluded: Any, at: str, percent: str, module: str) -> Any:
    """SQL of ``rollups.reading_order``: the incoming reading is the latest one (or the row has none yet)."""
    stored = table.c
    return or_(stored[at].is_(None), tuple_(excluded[at], excluded[percent], cast(excluded[module], Text))
               >= tuple_(stored[at], stored[percent], cast(stored[module], Text)))


def _recordset(table: Table, rows: Sequence[dict[str, Any]]) -> Any:
    """The batch as rows shaped like ``table``'s columns: ``jsonb_to_recordset`` of one JSON parameter (one
    parameter per batch, where executemany sends a statement per row and array parameters cost a parse per
    element on the client), whose SQL is the same for every batch size (compiled once)."""
    names = list(rows[0])
    return func.jsonb_to_recordset(cast(bindparam("batch", json.dumps(rows, default=str), type_=Text), JSONB)) \
        .table_valued(*(column(name, table.c[name].type) for name in names)) \
        .render_derived(name="batch", with_types=True)


def _bulk(table: Table, rows: Sequence[dict[str, Any]]) -> Insert:
    """INSERT … SELECT FROM the batch's recordset."""
    source = _recordset(table, rows)
    names = list(rows[0])
    return insert(table).from_select(names, select(*(source.c[name] for name in names)))


def _roll_up_modules(conn: Connection, assets: Sequence[AssetDelta]) -> None:
    """Recompute the module rows of the (enrollment, module) pairs the batch touched from their asset rows."""
    touched = sorted({(str(a.enrollment_id), str(a.module_id)): {
        "enrollment_id": a.enrollment_id, "module_id": a.module_id, "user_id": a.user_id, "course_id": a.course_id,
    } for a in assets}.items())
    pairs = _recordset(t.module_progress, [row for _, row in touched])
    ap = t.asset_progress.c
    totals = (
        select(pairs.c.enrollment_id, pairs.c.module_id, pairs.c.user_id, pairs.c.course_id,
               func.count().label("assets_started"),
               func.count().filter(ap.progress_percent >= 100).label("assets_completed"),
               func.min(ap.first_progress_at).label("first_progress_at"),
               func.max(ap.last_progress_at).label("last_progress_at"))
        .select_from(pairs.join(t.asset_progress, and_(ap.enrollment_id == pairs.c.enrollment_id,
                                                       ap.module_id == pairs.c.module_id)))
        .group_by(pairs.c.enrollment_id, pairs.c.module_id, pairs.c.user_id, pairs.c.course_id)
    )
    columns = ["enrollment_id", "module_id", "user_id", "course_id", "assets_started", "assets_completed",
               "first_progress_at", "last_progress_at"]
    stmt = insert(t.module_progress).from_select(columns, totals)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[t.module_progress.c.enrollment_id, t.module_progress.c.module_id],
        set_={name: stmt.excluded[name] for name in columns[4:]}))


def _apply_progress(conn: Connection, events: list[ProgressEvent]) -> None:
    conn.execute(_bulk(t.progress_facts, [
        {"event_id": e.event_id, "enrollment_id": e.enrollment_id, "user_id": e.user_id, "course_id": e.course_id,
         "module_id": e.module_id, "asset_id": e.asset_id, "progress_percent": e.progress_percent,
         "time_spent_delta": e.time_spent_delta, "course_percent": e.course_percent, "occurred_at": e.occurred_at}
        for e in events]).on_conflict_do_nothing())
    folded = fold_progress(events)

    ap = _bulk(t.asset_progress, [vars(a) for a in sorted(
        folded.assets, key=lambda a: (str(a.enrollment_id), str(a.asset_id)))])
    x = ap.excluded
    conn.execute(ap.on_conflict_do_update(
        index_elements=[t.asset_progress.c.enrollment_id, t.asset_progress.c.asset_id],
        set_={
            "time_spent_seconds": t.asset_progress.c.time_spent_seconds + x.time_spent_seconds,
            "progress_percent": case(
                (_incoming_is_later(t.asset_progress, x, "last_progress_at", "progress_percent", "module_id"),
                 x.progress_percent), else_=t.asset_progress.c.progress_percent),
            "first_progress_at": func.least(t.asset_progress.c.first_progress_at, x.first_progress_at),
            "last_progress_at": func.greatest(t.asset_progress.c.last_progress_at, x.last_progress_at),
        }))
    _roll_up_modules(conn, folded.assets)

    en = _bulk(t.enrollments, [
        {**vars(d), "status": EnrollmentStatus.ACTIVE.value, "enrollment_seen": False,
         "enrolled_at": d.first_activity_at}
        for d in sorted(folded.enrollments, key=lambda d: str(d.enrollment_id))])
    ex = en.excluded
    e_ = t.enrollments.c
    later = _incoming_is_later(t.enrollments, ex, "percent_at", "percent_complete", "current_module_id")
    conn.execute(en.on_conflict_do_update(
        index_elements=[e_.enrollment_id],
        set_={
            "time_spent_seconds": e_.time_spent_seconds + ex.time_spent_seconds,
            "progress_events": e_.progress_events + ex.progress_events,
            "first_activity_at": func.least(e_.first_activity_at, ex.first_activity_at),
            "last_activity_at": func.greatest(e_.last_activity_at, ex.last_activity_at),
            "percent_complete": case((later, ex.percent_complete), else_=e_.percent_complete),
            "current_module_id": case((later, ex.current_module_id), else_=e_.current_module_id),
            "percent_at": func.greatest(e_.percent_at, ex.percent_at),
            # Until its enrollment.created arrives, a row made by progress dates from its first activity.
            "enrolled_at": case((e_.enrollment_seen, e_.enrolled_at),
                                else_=func.least(e_.enrolled_at, ex.enrolled_at)),
        }))

    cd = _bulk(t.course_daily, [vars(d) for d in sorted(folded.course_days, key=lambda d: (str(d.course_id), d.day))])
    conn.execute(cd.on_conflict_do_update(
        index_elements=[t.course_daily.c.course_id, t.course_daily.c.day],
        set_={"progress_events": t.course_daily.c.progress_events + cd.excluded.progress_events,
              "time_spent_seconds": t.course_daily.c.time_spent_seconds + cd.excluded.time_spent_seconds}))

    conn.execute(_bulk(t.activity_days, [{"course_id": c, "user_id": u, "day": d}
                                         for c, u, d in folded.activity_days]).on_conflict_do_nothing())
    conn.execute(_bulk(t.user_activity_days, [{"user_id": u, "day": d}
                                              for u, d in folded.user_activity_days]).on_conflict_do_nothing())
    _mark_returned_nudges(conn, events)


def _mark_returned_nudges(conn: Connection, events: list[ProgressEvent]) -> None:
    """Nudges of these learners still open: answered by their first progress within the window."""
    pairs = {(e.user_id, e.course_id) for e in events}
    open_nudges = conn.execute(
        select(t.nudges.c.nudge_id, t.nudges.c.user_id, t.nudges.c.course_id, t.nudges.c.sent_at)
        .where(t.nudges.c.returned_at.is_(None),
               or_(*(and_(t.nudges.c.user_id == u, t.nudges.c.course_id == c) for u, c in sorted(pairs, key=str))))
    ).all() if pairs and _has_open_nudges(conn) else []
    for nudge_id, user_id, course_id, sent_at in open_nudges:
        back = [e.occurred_at for e in events if e.user_id == user_id and e.course_id == course_id
                and sent_at < e.occurred_at <= sent_at + NUDGE_RETURN_WINDOW]
        if back:
            conn.execute(update(t.nudges).where(t.nudges.c.nudge_id == nudge_id).values(returned_at=min(back)))


def _has_open_nudges(conn: Connection) -> bool:
    # Most batches meet no nudge at all: one cheap probe instead of an OR over every learner of the batch.
    return conn.execute(select(literal(1)).select_from(t.nudges).where(t.nudges.c.returned_at.is_(None))
                        .limit(1)).first() is not None


# --- users --------------------------------------------------------------------------------------------------

def _user_registered(envelope: EventEnvelope, conn: Connection) -> None:
    p: Any = typed_payload(envelope)
    stmt = insert(t.users).values(user_id=p.user_id, full_name=p.full_name, roles=sorted(p.roles),
                                  registered_at=envelope.occurred_at)
    # User events share a key (the user), so a role change never comes before its registration.
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.users.c.user_id], set_={
        "full_name": stmt.excluded.full_name, "registered_at": stmt.excluded.registered_at,
        "roles": stmt.excluded.roles}))


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

def _enrollment_fact(envelope: EventEnvelope, conn: Connection) -> Any:
    p: Any = typed_payload(envelope)
    conn.execute(insert(t.enrollment_facts).on_conflict_do_nothing().values(
        event_id=envelope.event_id, event_type=envelope.event_type, enrollment_id=p.enrollment_id,
        user_id=p.user_id, course_id=p.course_id, occurred_at=envelope.occurred_at))
    return p


def _count_day(conn: Connection, course_id: uuid.UUID, day: Any, column: str) -> None:
    stmt = insert(t.course_daily).values(course_id=course_id, day=day, **{column: 1})
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[t.course_daily.c.course_id, t.course_daily.c.day],
        set_={column: t.course_daily.c[column] + 1}))


def _set_enrollment(conn: Connection, p: Any, at: Any, **values: Any) -> None:
    """Upsert the enrollment row with ``values`` (the row may not exist yet: its events raced its progress)."""
    row = {"enrollment_id": p.enrollment_id, "user_id": p.user_id, "course_id": p.course_id,
           "status": EnrollmentStatus.ACTIVE.value, "enrolled_at": at, **values}
    stmt = insert(t.enrollments).values(row)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.enrollments.c.enrollment_id],
                                            set_={k: stmt.excluded[k] for k in values}))


def _enrollment_created(envelope: EventEnvelope, conn: Connection) -> None:
    p = _enrollment_fact(envelope, conn)
    # The enrollment topic is ordered per enrollment: a created after a drop is a re-enrollment.
    _set_enrollment(conn, p, p.enrolled_at, status=EnrollmentStatus.ACTIVE.value, enrollment_seen=True,
                    enrolled_at=p.enrolled_at, dropped_at=None)
    _count_day(conn, p.course_id, p.enrolled_at.date(), "enrolled")


def _enrollment_dropped(envelope: EventEnvelope, conn: Connection) -> None:
    p = _enrollment_fact(envelope, conn)
    _set_enrollment(conn, p, envelope.occurred_at, status=EnrollmentStatus.DROPPED.value,
                    dropped_at=envelope.occurred_at)
    _count_day(conn, p.course_id, envelope.occurred_at.date(), "dropped")


def _enrollment_completed(envelope: EventEnvelope, conn: Connection) -> None:
    p = _enrollment_fact(envelope, conn)
    _set_enrollment(conn, p, p.completed_at, status=EnrollmentStatus.COMPLETED.value, completed_at=p.completed_at)
    _count_day(conn, p.course_id, p.completed_at.date(), "completed")


def _certificate_issued(envelope: EventEnvelope, conn: Connection) -> None:
    p = _enrollment_fact(envelope, conn)
    _count_day(conn, p.course_id, envelope.occurred_at.date(), "certificates")


# --- nudges -------------------------------------------------------------------------------------------------

def _nudge_requested(envelope: EventEnvelope, conn: Connection) -> None:
    """The nudge as the API recorded it (a no-op live; a rebuild from the archive restores it)."""
    p: Any = typed_payload(envelope)
    conn.execute(insert(t.nudges).on_conflict_do_nothing().values(
        nudge_id=p.nudge_id, course_id=p.course_id, user_id=p.user_id, sender_id=p.instructor_id,
        message=p.message, sent_at=envelope.occurred_at, sent_on=envelope.occurred_at.date()))


_APPLY: dict[str, Callable[[EventEnvelope, Connection], None]] = {
    "user.registered": _user_registered,
    "user.email_verified": _user_email_verified,
    "user.role_changed": _user_role_changed,
    "course.created": _course_created,
    "course.published": _course_published,
    "course.archived": _course_archived,
    "enrollment.created": _enrollment_created,
    "enrollment.dropped": _enrollment_dropped,
    "enrollment.completed": _enrollment_completed,
    "certificate.issued": _certificate_issued,
    "learner.nudge_requested": _nudge_requested,
}
if set(_APPLY) | {"progress.updated"} != _CONSUMED:  # pragma: no cover - a catalogue edit missed this module
    raise RuntimeError("every consumed event type needs exactly one writer")
