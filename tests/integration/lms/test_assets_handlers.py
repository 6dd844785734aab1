"""Learning asset handlers invoked with API Gateway REST proxy events, against real PostgreSQL and the S3 emulator.

Article content goes the real way: an upload URL from the API, the bytes PUT straight to the emulator with
httpx through that presigned URL, then ``/content/complete``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest
from smartcourse_lms.auth.domain import Role
from smartcourse_lms.auth.repository import insert_user
from smartcourse_lms.catalogue import API_FUNCTIONS as LMS_FUNCTIONS
from sqlalchemy import Engine, text

from stacks.services import function
from tests.support import auth as fixtures
from tests.support.apigw import body_of, rest_event
from tests.support.auth import count

lms_url, engine, handler_env = fixtures.lms_url, fixtures.engine, fixtures.handler_env

pytestmark = pytest.mark.integration

TWO_MIB = 2 * 1024 * 1024
ASSET_COUNTS = "SELECT count(*) FROM assets"


def valid_document(paragraph: str = "Soil is a living system. " * 8) -> bytes:
    return json.dumps({"schema": "smartcourse.editor.v1", "doc": {"type": "doc", "content": [
        {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Soil"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": paragraph}]},
    ]}}).encode()


def call(name: str, who: tuple[str, str] | None, **kwargs: Any) -> dict[str, Any]:
    module = importlib.import_module(function(f"lms-{name}").module)
    return module.handler(rest_event(function(f"lms-{name}"), principal=who, **kwargs), None)


def anonymous_call(name: str, **kwargs: Any) -> dict[str, Any]:
    """As the optional authorizer passes a caller without a token."""
    event = rest_event(function(f"lms-{name}"), **kwargs)
    event["requestContext"]["authorizer"] = {"principalId": "anonymous"}
    return importlib.import_module(function(f"lms-{name}").module).handler(event, None)


def _user(engine: Engine, *roles: Role) -> tuple[str, str]:
    user_id = uuid.uuid4()
    with engine.begin() as conn:
        assert insert_user(conn, user_id=user_id, email=f"a-{user_id.hex[:12]}@it.smartcourse.local",
                           password_hash="x", full_name="Asset Tester", roles=list(roles), now=datetime.now(UTC))
    return str(user_id), ",".join(r.value for r in roles)


@pytest.fixture(scope="module")
def people(engine: Engine) -> dict[str, tuple[str, str]]:
    return {"owner": _user(engine, Role.INSTRUCTOR), "other": _user(engine, Role.INSTRUCTOR),
            "student": _user(engine, Role.STUDENT), "learner": _user(engine, Role.STUDENT),
            "graduate": _user(engine, Role.STUDENT), "dropout": _user(engine, Role.STUDENT),
            "admin": _user(engine, Role.ADMIN)}


@pytest.fixture
def content_bucket(handler_env: str, moto: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """CONTENT_BUCKET as the stack sets it for functions with the content-bucket grant, in the emulator."""
    from smartcourse import storage
    from smartcourse.settings import get_settings
    from smartcourse_lms.assets import service as assets_service

    name = f"content-it-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto.endpoint).create_bucket(Bucket=name)
    monkeypatch.setenv("CONTENT_BUCKET", name)
    get_settings.cache_clear()
    storage.reset_client()
    assets_service._service = None
    yield name
    assets_service._service = None
    storage.reset_client()
    get_settings.cache_clear()


def _course(who: tuple[str, str]) -> dict[str, Any]:
    response = call("courses-create", who, body={"title": "Assets " + uuid.uuid4().hex[:6]})
    assert response["statusCode"] == 201, response["body"]
    return body_of(response)


def _module(who: tuple[str, str], course_id: str) -> dict[str, Any]:
    response = call("modules-create", who, body={"course_id": course_id, "title": "Module"})
    assert response["statusCode"] == 201, response["body"]
    return body_of(response)


def _asset(who: tuple[str, str], module_id: str, **body: Any) -> dict[str, Any]:
    response = call("assets-create", who, body={"module_id": module_id, "title": "Asset", "asset_type": "video",
                                                "source_url": "https://videos.example.test/1", **body})
    assert response["statusCode"] == 201, response["body"]
    return body_of(response)


def _enroll(engine: Engine, user: tuple[str, str], course_id: str, status: str = "active") -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO enrollments (id, user_id, course_id, status) VALUES (:id, :u, :c, :s)"),
                     {"id": str(uuid.uuid4()), "u": user[0], "c": course_id, "s": status})


def _publish(who: tuple[str, str], course_id: str) -> dict[str, Any]:
    return call("courses-publish", who, path_params={"course_id": course_id})


def _row(engine: Engine, asset_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT * FROM assets WHERE id = :id"), {"id": asset_id}).mappings().one())


def _upload_url(who: tuple[str, str], asset_id: str, size: int,
                content_type: str = "application/json") -> dict[str, Any]:
    return call("assets-upload-url", who, path_params={"asset_id": asset_id},
                body={"content_type": content_type, "size_bytes": size})


def _upload(who: tuple[str, str], asset_id: str, data: bytes) -> dict[str, Any]:
    """Ask for an upload URL, PUT the bytes to the emulator through it, then complete."""
    ticket = _upload_url(who, asset_id, len(data))
    assert ticket["statusCode"] == 200, ticket["body"]
    ticket_body = body_of(ticket)
    put = httpx.put(ticket_body["upload_url"], content=data, headers=ticket_body["required_headers"])
    assert put.status_code == 200, put.text
    return call("assets-complete-upload", who, path_params={"asset_id": asset_id})


@pytest.fixture
def world(content_bucket: str, people: dict) -> dict[str, Any]:
    """A published course P (module PM: a video and a ready article) and a draft D (module DM: an article)."""
    owner = people["owner"]
    draft, published = _course(owner), _course(owner)
    dm, pm = _module(owner, draft["id"]), _module(owner, published["id"])
    video = _asset(owner, pm["id"], title="Intro video")
    article = _asset(owner, pm["id"], title="Reading", asset_type="article", source_url=None)
    assert body_of(_upload(owner, article["id"], valid_document()))["status"] == "ready"
    assert _publish(owner, published["id"])["statusCode"] == 200
    draft_article = _asset(owner, dm["id"], asset_type="article", source_url=None)
    return {"D": draft["id"], "P": published["id"], "DM": dm["id"], "PM": pm["id"], "video": video["id"],
            "article": article["id"], "draft_article": draft_article["id"]}


def test_every_asset_function_has_its_module(handler_env: str) -> None:
    fns = [fn for fn in LMS_FUNCTIONS if fn.module.startswith("lms.assets.")]
    assert len(fns) == 9
    for fn in fns:
        module = importlib.import_module(fn.module)
        assert callable(module.handler)
        assert fn in (getattr(module, "FUNCTIONS", None) or (module.FUNCTION,))


# --- create, list, get, update, delete ------------------------------------------------------------------------


def test_create_sets_status_and_appends_in_order(content_bucket: str, engine: Engine, people: dict) -> None:
    owner = people["owner"]
    module = _module(owner, _course(owner)["id"])
    video = _asset(owner, module["id"], duration_seconds=90, unknown_field="ignored", status="ready")
    article = _asset(owner, module["id"], asset_type="article", source_url=None, title="Read me")
    link = _asset(owner, module["id"], asset_type="link", source_url=None)
    _asset(owner, module["id"], order_index=0, title="First")
    assert video["status"] == "ready" and video["duration_seconds"] == 90 and "unknown_field" not in video
    assert article["status"] == "draft", "articles wait for their content even when a client says ready"
    assert link["status"] == "draft", "no source URL: nothing to show yet"
    assert [video["order_index"], article["order_index"], link["order_index"]] == [0, 1, 2]
    listed = body_of(call("assets-list-by-module", owner, path_params={"module_id": module["id"]}))
    assert listed["total"] == 4 and listed["limit"] == 20 and listed["offset"] == 0
    assert [a["title"] for a in listed["items"]] == ["Asset", "First", "Read me", "Asset"]
    page = body_of(call("assets-list-by-module", owner, path_params={"module_id": module["id"]},
                        query={"limit": "1", "offset": "2"}))
    assert [a["id"] for a in page["items"]] == [article["id"]] and page["total"] == 4
    assert _row(engine, article["id"])["content_version"] == 0


def test_who_may_create(content_bucket: str, engine: Engine, people: dict, world: dict) -> None:
    body = {"module_id": world["PM"], "title": "X", "asset_type": "video", "source_url": "https://v.example.test"}
    before = count(engine, ASSET_COUNTS)
    assert call("assets-create", None, body=body)["statusCode"] == 401
    assert call("assets-create", people["student"], body=body)["statusCode"] == 403
    assert call("assets-create", people["other"], body=body)["statusCode"] == 403
    draft_body = {**body, "module_id": world["DM"]}
    assert call("assets-create", people["other"], body=draft_body)["statusCode"] == 404
    assert call("assets-create", people["owner"], body={**body, "module_id": str(uuid.uuid4())})["statusCode"] == 404
    assert count(engine, ASSET_COUNTS) == before
    assert call("assets-create", people["admin"], body=draft_body)["statusCode"] == 201


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("{not json", 400),
        ("[]", 422),
        ('{"title": "x", "asset_type": "video"}', 422),
        ('{"module_id": "not-a-uuid", "title": "x", "asset_type": "video"}', 422),
        ('{"module_id": "MODULE", "title": "", "asset_type": "video"}', 422),
        ('{"module_id": "MODULE", "title": "   ", "asset_type": "video"}', 422),
        ('{"module_id": "MODULE", "title": "x", "asset_type": "podcast"}', 422),
        ('{"module_id": "MODULE", "title": "x", "asset_type": "video", "duration_seconds": -1}', 422),
        ('{"module_id": "MODULE", "title": "x", "asset_type": "video", "order_index": -1}', 422),
        ('{"module_id": "MODULE", "title": "x", "asset_type": "video", "source_url": ""}', 422),
    ],
)
def test_bad_create_bodies_are_4xx_and_store_nothing(content_bucket: str, engine: Engine, people: dict,
                                                     raw: str, status: int) -> None:
    module = _module(people["owner"], _course(people["owner"])["id"])
    before = count(engine, ASSET_COUNTS)
    response = call("assets-create", people["owner"], raw_body=raw.replace("MODULE", module["id"]))
    assert response["statusCode"] == status, response["body"]
    assert "detail" in body_of(response)
    assert count(engine, ASSET_COUNTS) == before


def test_reads_follow_the_course_visibility(content_bucket: str, people: dict, world: dict) -> None:
    for who in (people["student"], people["other"]):
        assert call("assets-list-by-module", who, path_params={"module_id": world["DM"]})["statusCode"] == 404
        assert call("assets-get", who, path_params={"asset_id": world["draft_article"]})["statusCode"] == 404
        assert call("assets-get", who, path_params={"asset_id": world["video"]})["statusCode"] == 200
    assert anonymous_call("assets-list-by-module", path_params={"module_id": world["PM"]})["statusCode"] == 200
    assert anonymous_call("assets-list-by-module", path_params={"module_id": world["DM"]})["statusCode"] == 404
    assert anonymous_call("assets-get", path_params={"asset_id": world["video"]})["statusCode"] == 200
    assert call("assets-get", people["admin"], path_params={"asset_id": world["draft_article"]})["statusCode"] == 200
    assert call("assets-get", people["owner"], path_params={"asset_id": str(uuid.uuid4())})["statusCode"] == 404
    assert call("assets-list-by-module", people["owner"],
                path_params={"module_id": str(uuid.uuid4())})["statusCode"] == 404


def test_content_url_only_for_staff_and_enrolled_students(content_bucket: str, engine: Engine, people: dict,
                                                          world: dict) -> None:
    _enroll(engine, people["learner"], world["P"])
    _enroll(engine, people["graduate"], world["P"], "completed")
    _enroll(engine, people["dropout"], world["P"], "dropped")
    path = {"asset_id": world["article"]}
    for name in ("owner", "admin", "learner", "graduate"):
        asset = body_of(call("assets-get", people[name], path_params=path))
        assert asset["content_url"], name
        download = httpx.get(asset["content_url"])
        assert download.status_code == 200 and download.content == valid_document(), name
    for name in ("student", "other", "dropout"):
        assert body_of(call("assets-get", people[name], path_params=path))["content_url"] is None, name
    assert body_of(anonymous_call("assets-get", path_params=path))["content_url"] is None
    video = body_of(call("assets-get", people["learner"], path_params={"asset_id": world["video"]}))
    assert video["content_url"] is None


def test_update_by_staff_recomputes_the_status(content_bucket: str, engine: Engine, people: dict,
                                               world: dict) -> None:
    owner = people["owner"]
    video = _asset(owner, world["PM"], title="Clip")
    path = {"asset_id": video["id"]}
    renamed = call("assets-patch", owner, path_params=path, body={"title": "Renamed", "duration_seconds": 5})
    assert renamed["statusCode"] == 200 and body_of(renamed)["title"] == "Renamed"
    unlinked = body_of(call("assets-put", owner, path_params=path, body={"source_url": None}))
    assert unlinked["status"] == "draft" and unlinked["title"] == "Renamed" and unlinked["duration_seconds"] == 5
    relinked = body_of(call("assets-patch", people["admin"], path_params=path,
                            body={"source_url": "https://videos.example.test/2"}))
    assert relinked["status"] == "ready"
    as_article = body_of(call("assets-patch", owner, path_params=path, body={"asset_type": "article"}))
    assert as_article["status"] == "draft", "an article is ready only once its content is accepted"
    before = _row(engine, video["id"])
    for who, body, status in [
        (None, {"title": "X"}, 401),
        (people["student"], {"title": "X"}, 403),
        (people["other"], {"title": "X"}, 403),
        (owner, {"status": "ready"}, 422),
        (owner, {"content_hash": "0" * 64}, 422),
        (owner, {"title": None}, 422),
        (owner, {"asset_type": "podcast"}, 422),
        (owner, {"duration_seconds": -5}, 422),
    ]:
        assert call("assets-patch", who, path_params=path, body=body)["statusCode"] == status, body
    assert call("assets-patch", people["other"], path_params={"asset_id": world["draft_article"]},
                body={"title": "X"})["statusCode"] == 404
    assert _row(engine, video["id"]) == before


def test_delete_by_staff_only(content_bucket: str, engine: Engine, people: dict, world: dict) -> None:
    asset = _asset(people["owner"], world["PM"])
    path = {"asset_id": asset["id"]}
    before = count(engine, ASSET_COUNTS)
    assert call("assets-delete", None, path_params=path)["statusCode"] == 401
    assert call("assets-delete", people["student"], path_params=path)["statusCode"] == 403
    assert call("assets-delete", people["other"], path_params=path)["statusCode"] == 403
    assert count(engine, ASSET_COUNTS) == before
    deleted = call("assets-delete", people["owner"], path_params=path)
    assert deleted["statusCode"] == 204 and not deleted.get("body")
    assert count(engine, ASSET_COUNTS) == before - 1
    assert call("assets-delete", people["owner"], path_params=path)["statusCode"] == 404


# --- article content ------------------------------------------------------------------------------------------


def test_upload_url_rules(content_bucket: str, engine: Engine, people: dict, world: dict) -> None:
    owner = people["owner"]
    article = _asset(owner, world["DM"], asset_type="article", source_url=None)
    before = _row(engine, article["id"])
    for who, asset_id, content_type, size, status in [
        (owner, world["video"], "application/json", 10, 422),  # article only
        (owner, article["id"], "text/html", 10, 422),
        (owner, article["id"], "application/json", 0, 422),
        (owner, article["id"], "application/json", TWO_MIB + 1, 413),
        (people["other"], article["id"], "application/json", 10, 404),  # a draft course: invisible
        (people["other"], world["article"], "application/json", 10, 403),
        (people["student"], world["article"], "application/json", 10, 403),
        (None, article["id"], "application/json", 10, 401),
        (owner, str(uuid.uuid4()), "application/json", 10, 404),
    ]:
        assert _upload_url(who, asset_id, size, content_type)["statusCode"] == status, (asset_id, content_type, size)
    for raw in ('{"content_type": "application/json"}', '{"content_type": "application/json", "size_bytes": "5"}',
                '{"content_type": "application/json", "size_bytes": true}', "{nope"):
        response = call("assets-upload-url", owner, path_params={"asset_id": article["id"]}, raw_body=raw)
        assert response["statusCode"] in (400, 422), raw
    assert _row(engine, article["id"]) == before

    response = _upload_url(owner, article["id"], 1234, "application/json; charset=utf-8")
    assert response["statusCode"] == 200, response["body"]
    ticket = body_of(response)
    assert ticket["asset_id"] == article["id"] and ticket["expires_in"] == 600
    assert ticket["required_headers"] == {"Content-Type": "application/json; charset=utf-8", "Content-Length": "1234"}
    key = f"courses/{world['D']}/modules/{world['DM']}/assets/{article['id']}/content.json"
    assert f"/{content_bucket}/{key}?" in ticket["upload_url"] and "X-Amz-Signature=" in ticket["upload_url"]
    assert _row(engine, article["id"])["status"] == "upload_pending"


def test_complete_accepts_a_valid_document(content_bucket: str, engine: Engine, people: dict, world: dict) -> None:
    owner = people["owner"]
    article = _asset(owner, world["DM"], asset_type="article", source_url=None)
    data = valid_document()
    response = _upload(owner, article["id"], data)
    assert response["statusCode"] == 200, response["body"]
    done = body_of(response)
    assert done["status"] == "ready" and done["size_bytes"] == len(data)
    assert done["content_hash"] == hashlib.sha256(data).hexdigest() and done["content_version"] == 1
    assert done["validation_error"] is None
    stored = boto3.client("s3").get_object(
        Bucket=content_bucket, Key=f"courses/{world['D']}/modules/{world['DM']}/assets/{article['id']}/content.json")
    assert stored["Body"].read() == data

    newer = valid_document("Compost feeds the soil. " * 10)
    again = body_of(_upload(people["admin"], article["id"], newer))
    assert again["content_version"] == 2 and again["content_hash"] == hashlib.sha256(newer).hexdigest()


def test_complete_without_an_upload_is_404_and_the_asset_stays_pending(content_bucket: str, engine: Engine,
                                                                      people: dict, world: dict) -> None:
    owner = people["owner"]
    article = _asset(owner, world["DM"], asset_type="article", source_url=None)
    assert _upload_url(owner, article["id"], 100)["statusCode"] == 200
    response = call("assets-complete-upload", owner, path_params={"asset_id": article["id"]})
    assert response["statusCode"] == 404 and "not been uploaded" in body_of(response)["detail"]
    row = _row(engine, article["id"])
    assert row["status"] == "upload_pending" and row["validation_error"] is None and row["content_version"] == 0


def test_complete_rejects_a_document_breaking_the_schema_listing_every_problem(
        content_bucket: str, engine: Engine, people: dict, world: dict) -> None:
    owner = people["owner"]
    article = _asset(owner, world["DM"], asset_type="article", source_url=None)
    bad = json.dumps({"schema": "smartcourse.editor.v1", "doc": {"type": "doc", "content": [
        {"type": "heading", "attrs": {"level": 9}, "content": [{"type": "text", "text": "T"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": 42}]},
        {"type": "marquee"},
    ]}}).encode()
    response = _upload(owner, article["id"], bad)
    assert response["statusCode"] == 400, response["body"]
    body = body_of(response)
    paths = [p["path"] for p in body["problems"]]
    assert "$.doc.content[0].attrs.level" in paths
    assert "$.doc.content[1].content[0].text" in paths
    assert "$.doc.content[2].type" in paths
    assert "$.doc" in paths  # too little text
    assert all(p in body["detail"] for p in paths)
    row = _row(engine, article["id"])
    assert row["status"] == "rejected" and "$.doc.content[0].attrs.level" in row["validation_error"]
    assert row["content_hash"] is None and row["content_version"] == 0


@pytest.mark.parametrize("data", [b"{not json", b"\xff\xfe\x00", b'"just a string"'])
def test_complete_rejects_what_is_not_an_editor_document(content_bucket: str, engine: Engine, people: dict,
                                                         world: dict, data: bytes) -> None:
    article = _asset(people["owner"], world["DM"], asset_type="article", source_url=None)
    response = _upload(people["owner"], article["id"], data)
    assert response["statusCode"] == 400, response["body"]
    row = _row(engine, article["id"])
    assert row["status"] == "rejected" and row["validation_error"]


def test_complete_rejects_an_oversized_object(content_bucket: str, engine: Engine, people: dict,
                                              world: dict) -> None:
    """The presigned PUT pins the declared size, but an emulator (or a forged request) may store more."""
    owner = people["owner"]
    article = _asset(owner, world["DM"], asset_type="article", source_url=None)
    assert _upload_url(owner, article["id"], 100)["statusCode"] == 200
    key = f"courses/{world['D']}/modules/{world['DM']}/assets/{article['id']}/content.json"
    boto3.client("s3").put_object(Bucket=content_bucket, Key=key, Body=b" " * (TWO_MIB + 1),
                                  ContentType="application/json")
    response = call("assets-complete-upload", owner, path_params={"asset_id": article["id"]})
    assert response["statusCode"] == 413, response["body"]
    row = _row(engine, article["id"])
    assert row["status"] == "rejected" and row["validation_error"] and row["size_bytes"] is None


def test_complete_by_staff_of_articles_only(content_bucket: str, engine: Engine, people: dict,
                                            world: dict) -> None:
    before = _row(engine, world["article"])
    path = {"asset_id": world["article"]}
    assert call("assets-complete-upload", None, path_params=path)["statusCode"] == 401
    assert call("assets-complete-upload", people["student"], path_params=path)["statusCode"] == 403
    assert call("assets-complete-upload", people["other"], path_params=path)["statusCode"] == 403
    assert call("assets-complete-upload", people["other"],
                path_params={"asset_id": world["draft_article"]})["statusCode"] == 404
    assert call("assets-complete-upload", people["owner"],
                path_params={"asset_id": world["video"]})["statusCode"] == 422
    assert _row(engine, world["article"]) == before


def test_get_content(content_bucket: str, engine: Engine, people: dict, world: dict) -> None:
    _enroll(engine, people["learner"], world["P"])
    path = {"asset_id": world["article"]}
    for name in ("owner", "admin", "learner"):
        response = call("assets-get-content", people[name], path_params=path)
        assert response["statusCode"] == 200, response["body"]
        body = body_of(response)
        assert body["id"] == world["article"] and body["asset_type"] == "article" and body["expires_in"] == 600
        assert body["title"] == "Reading"
        assert httpx.get(body["content_url"]).content == valid_document()
    assert call("assets-get-content", None, path_params=path)["statusCode"] == 401
    assert call("assets-get-content", people["student"], path_params=path)["statusCode"] == 403
    assert call("assets-get-content", people["other"], path_params=path)["statusCode"] == 403
    assert call("assets-get-content", people["other"],
                path_params={"asset_id": world["draft_article"]})["statusCode"] == 404
    not_ready = call("assets-get-content", people["owner"], path_params={"asset_id": world["draft_article"]})
    assert not_ready["statusCode"] == 403 and "not ready" in body_of(not_ready)["detail"]
    video = body_of(call("assets-get-content", people["learner"], path_params={"asset_id": world["video"]}))
    assert video["content_url"] == "https://videos.example.test/1" and video["expires_in"] is None


def test_publish_waits_for_the_article_content(content_bucket: str, people: dict) -> None:
    owner = people["owner"]
    course = _course(owner)
    module = _module(owner, course["id"])
    article = _asset(owner, module["id"], asset_type="article", source_url=None, title="Essay")
    blocked = _publish(owner, course["id"])
    assert blocked["statusCode"] == 422 and "not ready" in json.dumps(body_of(blocked))
    assert _upload(owner, article["id"], b"[]")["statusCode"] == 400
    assert _publish(owner, course["id"])["statusCode"] == 422, "a rejected article blocks publishing"
    assert _upload(owner, article["id"], valid_document())["statusCode"] == 200
    published = _publish(owner, course["id"])
    assert published["statusCode"] == 200 and body_of(published)["status"] == "published"
