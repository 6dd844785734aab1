"""Who may do what on every Courses, Modules and Learning assets route, over HTTP through the local gateway."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.support import Account, register

pytestmark = pytest.mark.e2e

ROLES = ("anonymous", "student", "owner", "other", "admin")


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {D} draft, {P}/{Q} published courses of the owner, {DM}/{PM} their modules, {DA}/{PA}/{PX} assets
    expected: tuple[int, int, int, int, int]  # per ROLES
    body: dict[str, Any] | None = None
    fresh: bool = False  # mutates what it touches: run against a world of its own


STAFF_ONLY_DRAFT = (401, 404, 200, 404, 200)
STAFF_ON_PUBLISHED = (401, 403, 200, 403, 200)
# Reads are open to anyone (no token): a draft stays invisible (404) to all but its staff.
ANY_READER = (200, 200, 200, 200, 200)
READ_DRAFT = (404, 404, 200, 404, 200)

CASES: dict[str, Case] = {
    "create course": Case("POST", "/courses", (401, 403, 201, 201, 201), {"title": "Authz course"}),
    "list courses": Case("GET", "/courses", ANY_READER),
    "get published": Case("GET", "/courses/{P}", ANY_READER),
    "get draft": Case("GET", "/courses/{D}", READ_DRAFT),
    "patch published": Case("PATCH", "/courses/{P}", STAFF_ON_PUBLISHED, {"description": "changed"}),
    "put draft": Case("PUT", "/courses/{D}", STAFF_ONLY_DRAFT, {"description": "changed"}),
    "delete draft": Case("DELETE", "/courses/{D}", (401, 404, 204, 404, 204), fresh=True),
    "delete published": Case("DELETE", "/courses/{P}", (401, 403, 204, 403, 204), fresh=True),
    "publish draft": Case("POST", "/courses/{D}/publish", STAFF_ONLY_DRAFT, fresh=True),
    "archive published": Case("POST", "/courses/{P}/archive", STAFF_ON_PUBLISHED, fresh=True),
    "list prerequisites of published": Case("GET", "/courses/{P}/prerequisites", ANY_READER),
    "list prerequisites of draft": Case("GET", "/courses/{D}/prerequisites", READ_DRAFT),
    "add prerequisite": Case("POST", "/courses/{P}/prerequisites/{Q}", (401, 403, 204, 403, 204)),
    "remove prerequisite": Case("DELETE", "/courses/{Q}/prerequisites/{P}", (401, 403, 204, 403, 204)),
    "create module in published": Case("POST", "/modules", (401, 403, 201, 403, 201),
                                       {"course_id": "{P}", "title": "Extra"}),
    "create module in draft": Case("POST", "/modules", (401, 404, 201, 404, 201),
                                   {"course_id": "{D}", "title": "Extra"}),
    "list modules of published": Case("GET", "/modules/by-course/{P}", ANY_READER),
    "list modules of draft": Case("GET", "/modules/by-course/{D}", READ_DRAFT),
    "get module of published": Case("GET", "/modules/{PM}", ANY_READER),
    "get module of draft": Case("GET", "/modules/{DM}", READ_DRAFT),
    "patch module of published": Case("PATCH", "/modules/{PM}", STAFF_ON_PUBLISHED, {"title": "Renamed"}),
    "put module of draft": Case("PUT", "/modules/{DM}", STAFF_ONLY_DRAFT, {"title": "Renamed"}),
    "delete module of published": Case("DELETE", "/modules/{PM}", (401, 403, 204, 403, 204), fresh=True),
    "delete module of draft": Case("DELETE", "/modules/{DM}", (401, 404, 204, 404, 204), fresh=True),
    # Learning assets: {DA}/{PA} ready videos, {PX} an article without content
    "create asset in published": Case("POST", "/assets", (401, 403, 201, 403, 201),
                                      {"module_id": "{PM}", "title": "Extra", "asset_type": "link",
                                       "source_url": "https://links.example.test/x"}),
    "create asset in draft": Case("POST", "/assets", (401, 404, 201, 404, 201),
                                  {"module_id": "{DM}", "title": "Extra", "asset_type": "article"}),
    "list assets of published": Case("GET", "/assets/by-module/{PM}", ANY_READER),
    "list assets of draft": Case("GET", "/assets/by-module/{DM}", READ_DRAFT),
    "get asset of published": Case("GET", "/assets/{PA}", ANY_READER),
    "get asset of draft": Case("GET", "/assets/{DA}", READ_DRAFT),
    "patch asset of published": Case("PATCH", "/assets/{PA}", STAFF_ON_PUBLISHED, {"title": "Renamed"}),
    "put asset of draft": Case("PUT", "/assets/{DA}", STAFF_ONLY_DRAFT, {"title": "Renamed"}),
    "delete asset of published": Case("DELETE", "/assets/{PA}", (401, 403, 204, 403, 204), fresh=True),
    "delete asset of draft": Case("DELETE", "/assets/{DA}", (401, 404, 204, 404, 204), fresh=True),
    "upload url of published article": Case("POST", "/assets/{PX}/content/upload-url", STAFF_ON_PUBLISHED,
                                            {"content_type": "application/json", "size_bytes": 500}),
    "upload url of draft video": Case("POST", "/assets/{DA}/content/upload-url", (401, 404, 422, 404, 422),
                                      {"content_type": "application/json", "size_bytes": 500}),
    # Nothing was uploaded: staff get the 404 of the missing object, the others never reach S3.
    "complete published article": Case("POST", "/assets/{PX}/content/complete", (401, 403, 404, 403, 404)),
    "complete draft video": Case("POST", "/assets/{DA}/content/complete", (401, 404, 422, 404, 422)),
    # Content: staff or enrolled students (nobody is enrolled here); a token is always needed.
    "content of published asset": Case("GET", "/assets/{PA}/content", (401, 403, 200, 403, 200)),
    "content of draft asset": Case("GET", "/assets/{DA}/content", (401, 404, 200, 404, 200)),
    "content of an article without content": Case("GET", "/assets/{PX}/content", (401, 403, 403, 403, 403)),
}


def add_asset(db: psycopg.Connection, module_id: str, asset_type: str = "video") -> str:
    """A ready video (or, for ``article``, an article without content yet); its id."""
    asset_id = str(uuid.uuid4())
    if asset_type == "video":
        db.execute("INSERT INTO assets (id, module_id, title, asset_type, status, source_url) "
                   "VALUES (%s, %s, 'Video', 'video', 'ready', 'https://videos.example.test/v')", (asset_id, module_id))
    else:
        db.execute("INSERT INTO assets (id, module_id, title, asset_type, status, order_index) "
                   "VALUES (%s, %s, 'Article', %s, 'draft', 1)", (asset_id, module_id, asset_type))
    return asset_id


def build_world(http: httpx.Client, db: psycopg.Connection, owner: Account) -> dict[str, str]:
    """A draft D and two published courses P and Q of ``owner``, each with one module holding a ready video
    ({D,P,Q}A); the published ones also an article without content added after publishing ({P,Q}X)."""
    world: dict[str, str] = {}
    for key in ("D", "P", "Q"):
        course = http.post("/api/v1/courses", json={"title": f"Authz {key}"}, headers=owner.headers)
        assert course.status_code == 201, course.text
        world[key] = course.json()["id"]
        module = http.post("/api/v1/modules", json={"course_id": world[key], "title": "M"}, headers=owner.headers)
        assert module.status_code == 201, module.text
        world[f"{key}M"] = module.json()["id"]
        world[f"{key}A"] = add_asset(db, world[f"{key}M"])
        if key != "D":
            published = http.post(f"/api/v1/courses/{world[key]}/publish", headers=owner.headers)
            assert published.status_code == 200, published.text
            world[f"{key}X"] = add_asset(db, world[f"{key}M"], "article")  # added after publishing
    return world


def _fill(value: Any, world: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key in sorted(world, key=len, reverse=True):
            value = value.replace("{" + key + "}", world[key])
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def people(http: httpx.Client, admin: Account) -> dict[str, Account | None]:
    return {"anonymous": None, "student": register(http, "student"), "owner": register(http, "instructor"),
            "other": register(http, "instructor"), "admin": admin}


@pytest.fixture(scope="module")
def shared_world(http: httpx.Client, db: psycopg.Connection, people: dict[str, Account | None]) -> dict[str, str]:
    owner = people["owner"]
    assert owner is not None
    return build_world(http, db, owner)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case_name", list(CASES))
def test_course_and_module_route_authorization(http: httpx.Client, db: psycopg.Connection,
                                               people: dict[str, Account | None], shared_world: dict[str, str],
                                               case_name: str, role: str) -> None:
    case = CASES[case_name]
    owner = people["owner"]
    assert owner is not None
    world = build_world(http, db, owner) if case.fresh else shared_world
    caller = people[role]
    response = http.request(case.method, "/api/v1" + _fill(case.path, world), json=_fill(case.body, world),
                            headers=caller.headers if caller else {})
    expected = case.expected[ROLES.index(role)]
    assert response.status_code == expected, response.text
    if expected != 204:
        assert response.headers["content-type"].startswith("application/json")
