"""Auth and admin use cases against real PostgreSQL (schema from the migrations)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from smartcourse.errors import BadRequest, Conflict, Forbidden, NotFound, Throttled, Unauthorized, ValidationFailed
from smartcourse_lms.auth import repository as auth_repo
from smartcourse_lms.auth.domain import Principal, Role, UserStatus
from smartcourse_lms.auth.service import AuthService
from smartcourse_lms.tables import metadata
from sqlalchemy import Engine, inspect, text

from tests.support import auth as fixtures
from tests.support.auth import Clock, config, count, make_service

# Fixtures shared with the other auth modules (pytest finds them as module attributes).
lms_url, engine, clock, service = fixtures.lms_url, fixtures.engine, fixtures.clock, fixtures.service

pytestmark = pytest.mark.integration


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@it.smartcourse.local"


def _admin(service: AuthService) -> Principal:
    user, _ = service.bootstrap_admin(_email(), "Admin-pass-1")
    return Principal(user.id, frozenset({"admin"}))


def test_migrations_build_every_table_of_the_metadata(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert "alembic_version" in tables


def test_schema_rejects_unnormalised_email_and_unknown_status(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(Exception, match="ck_users_email_normalised"):
        conn.execute(text("INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), 'A@B.co', 'x')"))
    with engine.connect() as conn, pytest.raises(Exception, match="ck_users_status"):
        conn.execute(text("INSERT INTO users (id, email, password_hash, status) "
                          "VALUES (gen_random_uuid(), 'a@b.co', 'x', 'deleted')"))


def test_register_stores_normalised_email_and_writes_the_event(service: AuthService, engine: Engine) -> None:
    email = _email()
    reg = service.register(f"  {email.upper()} ", "Register-pass-1", "Reg Ister")
    assert reg.user.email == email and reg.user.roles == (Role.STUDENT,) and not reg.user.email_verified
    rows = count(engine, "SELECT count(*) FROM outbox WHERE aggregate_id = :id AND event_type = 'user.registered'",
                 id=reg.user.id)
    assert rows == 1
    with engine.connect() as conn:
        envelope = conn.execute(text("SELECT envelope FROM outbox WHERE aggregate_id = :id"),
                                {"id": reg.user.id}).scalar_one()
    assert envelope["payload"]["verification_token_ref"] == str(reg.verification_token_ref)
    assert "Register-pass-1" not in str(envelope) and "password" not in str(envelope["payload"])


def test_duplicate_email_is_a_conflict_case_insensitively(service: AuthService) -> None:
    email = _email()
    service.register(email, "First-pass-1")
    with pytest.raises(Conflict):
        service.register(email.upper(), "Second-pass-1")


def test_register_never_grants_admin(service: AuthService) -> None:
    with pytest.raises(ValidationFailed):
        service.register(_email(), "Admin-wannabe-1", role="admin")


def test_failed_transaction_leaves_neither_user_nor_outbox_row(service: AuthService, engine: Engine,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse.db import unit_of_work

    users, events = count(engine, "SELECT count(*) FROM users"), count(engine, "SELECT count(*) FROM outbox")

    def broken_flush(self: unit_of_work.UnitOfWork) -> None:
        raise RuntimeError("broker of the outbox write")

    monkeypatch.setattr(unit_of_work.UnitOfWork, "flush_events", broken_flush)
    with pytest.raises(RuntimeError):
        service.register(_email(), "Rollback-pass-1")
    assert count(engine, "SELECT count(*) FROM users") == users
    assert count(engine, "SELECT count(*) FROM outbox") == events


def test_concurrent_registrations_of_one_email_make_one_user(engine: Engine) -> None:
    email = _email()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        service = make_service(engine)
        barrier.wait()
        try:
            service.register(email, "Racing-pass-1")
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "created"]
    assert count(engine, "SELECT count(*) FROM users WHERE email = :e", e=email) == 1


def test_login_refresh_rotation_and_logout(service: AuthService) -> None:
    email = _email()
    user = service.register(email, "Login-pass-1").user
    pair = service.login(email.upper(), "Login-pass-1", "198.51.100.1")
    claims = service.access_tokens.verify(pair.access_token)
    assert claims.user_id == user.id and claims.roles == ("student",)
    rotated = service.refresh(pair.refresh_token)
    assert rotated.refresh_token != pair.refresh_token
    service.logout(user.id, rotated.refresh_token)
    with pytest.raises(Unauthorized):
        service.refresh(rotated.refresh_token)


def test_reusing_a_rotated_refresh_token_revokes_the_family(service: AuthService, engine: Engine) -> None:
    email = _email()
    service.register(email, "Reuse-pass-1")
    first = service.login(email, "Reuse-pass-1")
    other_session = service.login(email, "Reuse-pass-1")
    second = service.refresh(first.refresh_token)
    with pytest.raises(Unauthorized):
        service.refresh(first.refresh_token)  # replay of the rotated token
    with pytest.raises(Unauthorized):
        service.refresh(second.refresh_token)  # the legitimate successor died with the family
    assert service.refresh(other_session.refresh_token).access_token  # another family is untouched


def test_concurrent_refreshes_with_one_token_do_not_both_succeed(engine: Engine) -> None:
    service = make_service(engine)
    email = _email()
    service.register(email, "Concurrent-pass-1")
    token = service.login(email, "Concurrent-pass-1").refresh_token
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        barrier.wait()
        try:
            make_service(engine).refresh(token)
            outcomes.append("ok")
        except Unauthorized:
            outcomes.append("401")

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["401", "ok"]


def test_expired_refresh_token_is_refused(service: AuthService, clock: Clock) -> None:
    email = _email()
    service.register(email, "Expiry-pass-1")
    pair = service.login(email, "Expiry-pass-1")
    clock.advance(days=31)
    with pytest.raises(Unauthorized):
        service.refresh(pair.refresh_token)


def test_wrong_password_and_unknown_email_get_the_same_error(service: AuthService) -> None:
    email = _email()
    service.register(email, "Generic-pass-1")
    with pytest.raises(Unauthorized) as wrong:
        service.login(email, "Wrong-pass-1")
    with pytest.raises(Unauthorized) as unknown:
        service.login(_email(), "Wrong-pass-1")
    assert str(wrong.value) == str(unknown.value)


def test_failures_are_throttled_per_email_for_the_window(service: AuthService, clock: Clock) -> None:
    email = _email()
    service.register(email, "Throttle-pass-1")
    for i in range(5):
        with pytest.raises(Unauthorized):
            service.login(email, "Wrong-pass-1", f"198.51.100.{i}")
    with pytest.raises(Throttled) as throttled:
        service.login(email, "Throttle-pass-1", "198.51.100.200")  # even the right password
    assert 0 < throttled.value.retry_after_seconds <= 15 * 60 + 1
    clock.advance(minutes=16)
    assert service.login(email, "Throttle-pass-1").access_token


def test_failures_are_throttled_per_source_ip(engine: Engine, clock: Clock) -> None:
    service = make_service(engine, clock, config=config(max_per_email=100, max_per_ip=3))
    ip = f"192.0.2.{uuid.uuid4().int % 250}"
    victim = _email()
    service.register(victim, "Victim-pass-1")
    for _ in range(3):
        with pytest.raises(Unauthorized):
            service.login(_email(), "Spray-pass-1", ip)  # a different email each time
    with pytest.raises(Throttled):
        service.login(victim, "Victim-pass-1", ip)
    assert service.login(victim, "Victim-pass-1", "192.0.2.251").access_token


def test_blocked_user_cannot_log_in_or_refresh(service: AuthService) -> None:
    admin = _admin(service)
    email = _email()
    user = service.register(email, "Blocked-pass-1").user
    pair = service.login(email, "Blocked-pass-1")
    blocked = service.update_user(admin, user.id, {"status": "blocked"})
    assert blocked.status is UserStatus.BLOCKED
    with pytest.raises(Forbidden):
        service.login(email, "Blocked-pass-1")
    with pytest.raises(Unauthorized):
        service.refresh(pair.refresh_token)
    with pytest.raises(Forbidden):
        service.authenticate(pair.access_token)
    service.update_user(admin, user.id, {"status": "active"})
    assert service.login(email, "Blocked-pass-1").access_token


def test_a_user_locked_for_update_still_accepts_a_new_refresh_token(service: AuthService, engine: Engine) -> None:
    # Guards the refresh-vs-block deadlock: the lock an admin's update takes on the user must not conflict with the
    # FOR KEY SHARE that inserting a refresh token takes through its foreign key (FOR UPDATE did, and deadlocked).
    user = service.register(_email(), "Locked-pass-1").user
    token_id, now = uuid.uuid4(), datetime.now(UTC)
    with engine.begin() as admin_tx:
        assert auth_repo.get_user(admin_tx, user.id, for_update=True) is not None
        with engine.begin() as refresh_tx:
            # Waiting at all means the lock conflicts; fail fast instead of hanging the test.
            refresh_tx.execute(text("SET LOCAL lock_timeout = '2s'"))
            auth_repo.insert_refresh_token(refresh_tx, token_id=token_id, user_id=user.id, family_id=uuid.uuid4(),
                                           token_hash=uuid.uuid4().hex, now=now, expires_at=now + timedelta(days=1))
    assert count(engine, "SELECT count(*) FROM refresh_tokens WHERE id = :id", id=token_id) == 1


def test_verify_email_is_single_use_and_expires(service: AuthService, engine: Engine, clock: Clock) -> None:
    reg = service.register(_email(), "Verify-pass-1")
    token = service.issue_verification_token(reg.verification_token_ref)
    with pytest.raises(BadRequest):
        service.verify_email("not-a-token")
    assert service.verify_email(token).email_verified
    with pytest.raises(BadRequest):
        service.verify_email(token)
    assert count(engine, "SELECT count(*) FROM outbox WHERE aggregate_id = :id AND event_type = 'user.email_verified'",
                 id=reg.user.id) == 1
    late = service.register(_email(), "Verify-pass-1")
    late_token = service.issue_verification_token(late.verification_token_ref)
    clock.advance(hours=25)
    with pytest.raises(BadRequest):
        service.verify_email(late_token)


def test_issuing_a_token_again_invalidates_the_previous_one(service: AuthService) -> None:
    reg = service.register(_email(), "Reissue-pass-1")
    old = service.issue_verification_token(reg.verification_token_ref)
    new = service.issue_verification_token(reg.verification_token_ref)
    with pytest.raises(BadRequest):
        service.verify_email(old)
    assert service.verify_email(new).email_verified
    with pytest.raises(NotFound):
        service.issue_verification_token(reg.verification_token_ref)  # spent


def test_forgot_and_reset_password_revokes_every_session(service: AuthService, engine: Engine,
                                                        clock: Clock) -> None:
    email = _email()
    user = service.register(email, "Before-reset-1").user
    sessions = [service.login(email, "Before-reset-1") for _ in range(2)]
    assert service.forgot_password(_email()) is None  # unknown: silent, nothing written
    ref = service.forgot_password(email.upper())
    assert ref is not None
    assert count(engine, "SELECT count(*) FROM outbox WHERE aggregate_id = :id "
                         "AND event_type = 'user.password_reset_requested'", id=user.id) == 1
    token = service.issue_reset_token(ref)
    with pytest.raises(ValidationFailed):
        service.reset_password(token, "12345678")
    service.reset_password(token, "After-reset-1")
    for pair in sessions:
        with pytest.raises(Unauthorized):
            service.refresh(pair.refresh_token)
    with pytest.raises(BadRequest):
        service.reset_password(token, "Again-reset-1")  # single use
    with pytest.raises(Unauthorized):
        service.login(email, "Before-reset-1")
    assert service.login(email, "After-reset-1").access_token
    expiring = service.issue_reset_token(service.forgot_password(email))  # type: ignore[arg-type]
    clock.advance(minutes=61)
    with pytest.raises(BadRequest):
        service.reset_password(expiring, "Too-late-pass-1")


def test_role_grant_and_revoke_are_idempotent_and_evented(service: AuthService, engine: Engine) -> None:
    admin = _admin(service)
    user = service.register(_email(), "Roles-pass-1").user
    for _ in range(2):
        assert service.grant_role(admin, user.id, Role.INSTRUCTOR).roles == (Role.STUDENT, Role.INSTRUCTOR)
    for _ in range(2):
        assert service.revoke_role(admin, user.id, Role.INSTRUCTOR).roles == (Role.STUDENT,)
    changes = count(engine, "SELECT count(*) FROM outbox WHERE aggregate_id = :id AND event_type = 'user.role_changed'",
                    id=user.id)
    assert changes == 2  # one grant, one revoke: repeats change nothing
    with pytest.raises(NotFound):
        service.grant_role(admin, uuid.uuid4(), Role.INSTRUCTOR)
    with pytest.raises(Forbidden):
        service.grant_role(Principal(user.id, frozenset({"student"})), user.id, Role.ADMIN)


def test_admin_cannot_remove_own_admin_role(service: AuthService) -> None:
    admin = _admin(service)
    with pytest.raises(Conflict):
        service.revoke_role(admin, admin.user_id, Role.ADMIN)
    assert Role.ADMIN in service.me(admin.user_id).roles
    other = _admin(service)
    assert Role.ADMIN not in service.revoke_role(admin, other.user_id, Role.ADMIN).roles


def test_list_users_filters_and_pages(service: AuthService, clock: Clock) -> None:
    admin = _admin(service)
    tag = uuid.uuid4().hex[:8]
    made = []
    for i in range(5):
        clock.advance(seconds=1)  # the order is by creation time, then id
        made.append(service.register(f"list-{tag}-{i}@it.smartcourse.local", "List-pass-1", f"Lister {tag} {i}",
                                     role="instructor" if i % 2 else "student").user)
    service.update_user(admin, made[0].id, {"status": "blocked"})
    everyone = service.list_users(admin, q=tag, limit=100)
    assert everyone.total == 5 and [u.id for u in everyone.items] == [u.id for u in made]
    instructors = service.list_users(admin, q=tag, role=Role.INSTRUCTOR)
    assert {u.id for u in instructors.items} == {made[1].id, made[3].id}
    blocked = service.list_users(admin, q=tag, status=UserStatus.BLOCKED)
    assert [u.id for u in blocked.items] == [made[0].id]
    page = service.list_users(admin, q=tag, limit=2, offset=2)
    assert page.total == 5 and [u.id for u in page.items] == [made[2].id, made[3].id]
    assert service.list_users(admin, q=f"%{tag}_").total == 0  # LIKE wildcards in q are literal
    assert service.list_users(admin, q=f"LISTER {tag.upper()}").total == 5  # case-insensitive on names


def test_update_user_renames_and_refuses_self_block(service: AuthService) -> None:
    admin = _admin(service)
    user = service.register(_email(), "Rename-pass-1", "Old Name").user
    assert service.update_user(admin, user.id, {"full_name": "New Name"}).full_name == "New Name"
    with pytest.raises(Conflict):
        service.update_user(admin, admin.user_id, {"status": "blocked"})
    with pytest.raises(NotFound):
        service.update_user(admin, uuid.uuid4(), {"full_name": "Nobody"})


def test_bootstrap_admin_is_idempotent_and_promotes(service: AuthService) -> None:
    email = _email()
    first, created = service.bootstrap_admin(email, "Bootstrap-pass-1")
    again, created_again = service.bootstrap_admin(email.upper(), "Bootstrap-pass-1")
    assert created and not created_again and first.id == again.id and Role.ADMIN in again.roles
    student_email = _email()
    student = service.register(student_email, "Promote-pass-1").user
    promoted, created = service.bootstrap_admin(student_email, "Ignored-pass-1")
    assert not created and promoted.id == student.id and set(promoted.roles) == {Role.STUDENT, Role.ADMIN}
    assert service.login(student_email, "Promote-pass-1").access_token  # password untouched
