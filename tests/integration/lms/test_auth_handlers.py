"""Handlers invoked directly with API Gateway REST proxy events, against real PostgreSQL and the AWS emulator."""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest
from smartcourse_lms.catalogue import API_FUNCTIONS as LMS_FUNCTIONS
from sqlalchemy import Engine

from stacks.services import function
from tests.support import auth as fixtures
from tests.support.apigw import authorizer_event, body_of, rest_event
from tests.support.auth import count

lms_url, engine, handler_env = fixtures.lms_url, fixtures.engine, fixtures.handler_env

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _module(name: str) -> ModuleType:
    return importlib.import_module(function(name).module)


def call(name: str, **kwargs: Any) -> dict[str, Any]:
    return _module(name).handler(rest_event(function(name), **kwargs), None)


def _platform_module(stem: str) -> ModuleType:
    return importlib.import_module(f"platform_fns.{stem}")


def _email() -> str:
    return f"h-{uuid.uuid4().hex[:10]}@it.smartcourse.local"


def _register(email: str, password: str = "Handler-pass-1", **extra: Any) -> dict[str, Any]:
    response = call("lms-auth-register", body={"email": email, "password": password, **extra})
    assert response["statusCode"] == 201, response["body"]
    return body_of(response)


def _login(email: str, password: str = "Handler-pass-1") -> dict[str, Any]:
    response = call("lms-auth-login", body={"email": email, "password": password})
    assert response["statusCode"] == 200, response["body"]
    return body_of(response)


def test_every_auth_and_admin_function_has_its_module(handler_env: str) -> None:
    for fn in LMS_FUNCTIONS:
        if fn.module.startswith(("lms.auth.", "lms.admin.")):
            module = _module(fn.name)
            assert callable(module.handler) and module.FUNCTION is fn


def test_register_login_me_refresh_logout(handler_env: str, engine: Engine) -> None:
    email = _email()
    created = _register(f" {email.upper()}", full_name="Hand Ler", role="instructor")
    assert created["email"] == email and created["roles"] == ["instructor"] and created["email_verified"] is False
    assert set(created) >= {"id", "email", "full_name", "roles", "email_verified"}
    form = call("lms-auth-login", raw_body=urlencode({"username": email, "password": "Handler-pass-1"}),
                content_type="application/x-www-form-urlencoded")
    assert form["statusCode"] == 200, form["body"]
    tokens = body_of(form)
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    encoded = call("lms-auth-login", raw_body=urlencode({"username": email, "password": "Handler-pass-1"}),
                   content_type="application/x-www-form-urlencoded; charset=utf-8", base64_body=True)
    assert encoded["statusCode"] == 200, encoded["body"]

    me = call("lms-auth-me", principal=(created["id"], "instructor"))
    assert me["statusCode"] == 200 and body_of(me)["email"] == email and body_of(me)["status"] == "active"

    refreshed = call("lms-auth-refresh", body={"refresh_token": tokens["refresh_token"]})
    assert refreshed["statusCode"] == 200
    pair = body_of(refreshed)
    logout = call("lms-auth-logout", body={"refresh_token": pair["refresh_token"]},
                  principal=(created["id"], "instructor"))
    assert logout["statusCode"] == 204 and not logout["body"]
    assert call("lms-auth-refresh", body={"refresh_token": pair["refresh_token"]})["statusCode"] == 401
    reuse = call("lms-auth-refresh", body={"refresh_token": tokens["refresh_token"]})
    assert reuse["statusCode"] == 401 and body_of(reuse) == {"detail": "Invalid or expired refresh token"}


def test_protected_functions_need_the_authorizer_context(handler_env: str) -> None:
    response = call("lms-auth-me")
    assert response["statusCode"] == 401 and "detail" in body_of(response)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("{not json", 400),
        ('{"email": 42, "password": ["x"]}', 422),
        ('{"email": "not-an-email", "password": "Valid-pass-1"}', 422),
        ('{"email": "a@b.co", "password": "12345678"}', 422),
        ('{"email": "a@b.co", "password": "short"}', 422),
        ('{"email": "a@b.co", "password": "' + "x" * 129 + '"}', 422),
        ('{"email": "a@b.co", "password": "Valid-pass-1", "full_name": "' + "n" * 300 + '"}', 422),
        ('{"email": "' + "e" * 400 + '@b.co", "password": "Valid-pass-1"}', 422),
        ('{"email": "a@b.co", "password": "Valid-pass-1", "role": "admin"}', 422),
        ("[]", 422),
        ("", 422),
        ("null", 422),
    ],
)
def test_bad_registration_is_rejected_and_writes_nothing(handler_env: str, engine: Engine, raw: str,
                                                         status: int) -> None:
    users, events = count(engine, "SELECT count(*) FROM users"), count(engine, "SELECT count(*) FROM outbox")
    response = call("lms-auth-register", raw_body=raw)
    assert response["statusCode"] == status, response["body"]
    detail = body_of(response)["detail"]
    if status == 422:
        assert detail and all(set(entry) == {"loc", "msg", "type"} for entry in detail)
    else:
        assert detail == "Malformed JSON body"
    assert "Traceback" not in response["body"] and "Valid-pass-1" not in response["body"]
    assert count(engine, "SELECT count(*) FROM users") == users
    assert count(engine, "SELECT count(*) FROM outbox") == events


def test_undecodable_bodies_are_400_never_500(handler_env: str) -> None:
    bad_utf8 = call("lms-auth-register", raw_body=b"\xff\xfe{", base64_body=True)
    assert bad_utf8["statusCode"] == 400
    bad_b64 = rest_event(function("lms-auth-register"), raw_body="@@@not base64@@@")
    bad_b64["isBase64Encoded"] = True
    assert _module("lms-auth-register").handler(bad_b64, None)["statusCode"] == 400


def test_login_bad_bodies(handler_env: str) -> None:
    assert call("lms-auth-login", raw_body="{oops")["statusCode"] == 400
    assert call("lms-auth-login", body={"email": "x@y.co"})["statusCode"] == 422
    form = call("lms-auth-login", raw_body="username=x%40y.co", content_type="application/x-www-form-urlencoded")
    assert form["statusCode"] == 422
    assert body_of(form)["detail"][0]["loc"] == ["body", "password"]


def test_login_errors_are_generic_then_throttled(handler_env: str) -> None:
    email = _email()
    _register(email)
    wrong = call("lms-auth-login", body={"email": email, "password": "Wrong-pass-1"}, source_ip="198.51.100.7")
    unknown = call("lms-auth-login", body={"email": _email(), "password": "Wrong-pass-1"}, source_ip="198.51.100.8")
    assert wrong["statusCode"] == unknown["statusCode"] == 401 and wrong["body"] == unknown["body"]
    for _ in range(4):
        call("lms-auth-login", body={"email": email, "password": "Wrong-pass-1"})
    throttled = call("lms-auth-login", body={"email": email, "password": "Handler-pass-1"})
    assert throttled["statusCode"] == 429 and int(throttled["multiValueHeaders"]["Retry-After"][0]) > 0


def test_verify_and_password_flows(handler_env: str, engine: Engine) -> None:
    from smartcourse_lms.auth.service import get_auth_service

    email = _email()
    user = _register(email)
    service = get_auth_service()
    assert call("lms-auth-verify-email", body={"token": "nope"})["statusCode"] == 400
    ref = _latest_ref(engine, user["id"], "user.registered", "verification_token_ref")
    verified = call("lms-auth-verify-email", body={"token": service.issue_verification_token(ref)})
    assert verified["statusCode"] == 200 and body_of(verified)["email_verified"] is True

    unknown = call("lms-auth-password-forgot", body={"email": _email()})
    known = call("lms-auth-password-forgot", body={"email": email})
    assert unknown["statusCode"] == known["statusCode"] == 202 and unknown["body"] == known["body"]
    reset_ref = _latest_ref(engine, user["id"], "user.password_reset_requested", "reset_token_ref")
    token = service.issue_reset_token(reset_ref)
    weak = call("lms-auth-password-reset", body={"token": token, "new_password": "123456789"})
    assert weak["statusCode"] == 422
    done = call("lms-auth-password-reset", body={"token": token, "new_password": "Brand-new-pass-1"})
    assert done["statusCode"] == 204
    assert call("lms-auth-password-reset", body={"token": token, "new_password": "Brand-new-pass-2"}
                )["statusCode"] == 400
    assert _login(email, "Brand-new-pass-1")["access_token"]


def _latest_ref(engine: Engine, user_id: str, event_type: str, field: str) -> uuid.UUID:
    from sqlalchemy import text

    with engine.connect() as conn:
        envelope = conn.execute(text("SELECT envelope FROM outbox WHERE aggregate_id = :id AND event_type = :t "
                                     "ORDER BY id DESC LIMIT 1"), {"id": user_id, "t": event_type}).scalar_one()
    return uuid.UUID(envelope["payload"][field])


def _admin_principal() -> tuple[str, str]:
    from smartcourse_lms.auth.service import get_auth_service

    admin, _ = get_auth_service().bootstrap_admin(_email(), "Admin-handler-1")
    return str(admin.id), "admin"


def test_admin_functions(handler_env: str) -> None:
    admin = _admin_principal()
    target = _register(_email(), full_name="Tar Get")
    student = (target["id"], "student")
    path = {"user_id": target["id"], "role": "instructor"}
    assert call("lms-admin-grant-role", path_params=path, principal=student)["statusCode"] == 403
    assert call("lms-admin-list-users", principal=student)["statusCode"] == 403
    for _ in range(2):
        granted = call("lms-admin-grant-role", path_params=path, principal=admin)
        assert granted["statusCode"] == 200 and body_of(granted)["roles"] == ["student", "instructor"]
    for _ in range(2):
        revoked = call("lms-admin-revoke-role", path_params=path, principal=admin)
        assert revoked["statusCode"] == 200 and body_of(revoked)["roles"] == ["student"]
    bad_role = call("lms-admin-grant-role", path_params={**path, "role": "superuser"}, principal=admin)
    assert bad_role["statusCode"] == 422
    bad_id = call("lms-admin-grant-role", path_params={**path, "user_id": "nope"}, principal=admin)
    assert bad_id["statusCode"] == 422
    missing = call("lms-admin-grant-role", path_params={**path, "user_id": str(uuid.uuid4())}, principal=admin)
    assert missing["statusCode"] == 404
    own = call("lms-admin-revoke-role", path_params={"user_id": admin[0], "role": "admin"}, principal=admin)
    assert own["statusCode"] == 409

    renamed = call("lms-admin-update-user", path_params={"user_id": target["id"]}, body={"full_name": "Re Named"},
                   principal=admin)
    assert renamed["statusCode"] == 200 and body_of(renamed)["full_name"] == "Re Named"
    extra = call("lms-admin-update-user", path_params={"user_id": target["id"]}, body={"roles": ["admin"]},
                 principal=admin)
    assert extra["statusCode"] == 422
    blocked = call("lms-admin-update-user", path_params={"user_id": target["id"]}, body={"status": "blocked"},
                   principal=admin)
    assert blocked["statusCode"] == 200 and body_of(blocked)["status"] == "blocked"
    assert call("lms-auth-login", body={"email": target["email"], "password": "Handler-pass-1"}
                )["statusCode"] == 403

    page = call("lms-admin-list-users", query={"q": target["email"], "status": "blocked", "limit": "5"},
                principal=admin)
    assert page["statusCode"] == 200
    assert body_of(page)["total"] == 1 and body_of(page)["limit"] == 5 and body_of(page)["offset"] == 0
    assert call("lms-admin-list-users", query={"limit": "101"}, principal=admin)["statusCode"] == 422
    assert call("lms-admin-list-users", query={"offset": "-1"}, principal=admin)["statusCode"] == 422
    assert call("lms-admin-list-users", query={"role": "root"}, principal=admin)["statusCode"] == 422


def test_authorizer(handler_env: str) -> None:
    authorizer = _module("lms-authorizer")
    email = _email()
    user = _register(email)
    token = _login(email)["access_token"]
    allowed = authorizer.handler(authorizer_event(token, header="authorization"), None)
    assert allowed["principalId"] == user["id"]
    statement = allowed["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/*"
    assert allowed["context"] == {**allowed["context"], "user_id": user["id"], "roles": "student", "email": email}
    for bad in ("not-a-jwt", token + "x"):
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            authorizer.handler(authorizer_event(bad), None)
    # Without any Authorization header only the optional authorizer (no identity source) is ever invoked:
    # the caller is anonymous, never anyone's principal.
    anonymous = authorizer.handler(authorizer_event(None), None)
    assert anonymous["principalId"] == "anonymous"
    assert anonymous["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert anonymous["context"]["user_id"] == "" and anonymous["context"]["roles"] == ""
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler({"headers": {"Authorization": f"Basic {base64.b64encode(b'a:b').decode()}"},
                            "methodArn": "arn:aws:execute-api:us-east-1:1:a/dev/GET/x"}, None)
    admin = _admin_principal()
    from smartcourse_lms.auth.domain import Principal
    from smartcourse_lms.auth.service import get_auth_service

    get_auth_service().update_user(Principal(uuid.UUID(admin[0]), frozenset({"admin"})), uuid.UUID(user["id"]),
                                   {"status": "blocked"})
    denied = authorizer.handler(authorizer_event(token), None)
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_migrate_function_is_idempotent(handler_env: str, engine: Engine) -> None:
    result = _platform_module("migrate").handler({}, None)
    assert result["Data"]["migrated"] == "lms,ai,analytics,notification"
    assert count(engine, "SELECT count(*) FROM alembic_version") == 1


def test_openapi_documents_auth_and_admin(handler_env: str) -> None:
    from smartcourse.catalogue import Service
    from smartcourse.openapi import build_openapi

    from stacks.services import api_functions

    document = build_openapi(Service.LMS, api_functions(Service.LMS))
    register = document["paths"]["/api/v1/auth/register"]["post"]
    assert register["tags"] == ["Auth"] and "201" in {str(k) for k in register["responses"]}
    assert document["paths"]["/api/v1/admin/users"]["get"]["tags"] == ["Admin"]
    assert json.dumps(document)
