"""Every list route takes ``limit`` and ``offset`` with both bounds of ``smartcourse.pagination``.

A list route is any operation (of any API's document, built from the handlers themselves) with a ``limit`` or
``offset`` query parameter. Each must document both, bounded as the shared definition says, and answer an
out-of-range value with a 422 before its handler body runs (so before any database could see a huge offset).
"""

from __future__ import annotations

import importlib
import json
import re
import uuid
from typing import Any

import pytest
from smartcourse.catalogue import Function
from smartcourse.openapi import build_openapi
from smartcourse.pagination import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET

from stacks.services import APIS, api_functions, function
from tests.support.apigw import rest_event

BOUNDS = {"limit": (1, MAX_LIMIT, DEFAULT_LIMIT), "offset": (0, MAX_OFFSET, 0)}


def _list_routes() -> list[tuple[Function, dict[str, Any]]]:
    found = []
    for api in APIS:
        functions = api_functions(api)
        by_operation = {fn.name: fn for fn in functions}
        for operations in build_openapi(api, functions)["paths"].values():
            for operation in operations.values():
                query = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
                if query.keys() & BOUNDS.keys():
                    found.append((by_operation[operation["operationId"]], query))
    return found


LIST_ROUTES = _list_routes()


def _call(fn: Function, query: dict[str, str]) -> dict[str, Any]:
    params = {name: str(uuid.uuid4()) for name in re.findall(r"\{(\w+)\}", fn.route.path)}
    event = rest_event(fn, path_params=params, query=query, principal=(str(uuid.uuid4()), "admin"))
    return importlib.import_module(fn.module).handler(event, None)


def test_the_list_routes_are_found() -> None:
    names = {fn.name for fn, _ in LIST_ROUTES}
    assert {"lms-courses-list", "lms-admin-list-users", "notification-list-mine"} <= names
    assert len(names) >= 11


@pytest.mark.parametrize(("fn", "query"), LIST_ROUTES, ids=[fn.name for fn, _ in LIST_ROUTES])
def test_every_list_route_documents_both_bounds(fn: Function, query: dict[str, Any]) -> None:
    for name, (low, high, default) in BOUNDS.items():
        assert name in query, f"{fn.name} has no {name}"
        schema = query[name]["schema"]
        assert (schema["minimum"], schema["maximum"], schema["default"]) == (low, high, default), (fn.name, name)


@pytest.mark.parametrize(("fn", "query"), LIST_ROUTES, ids=[fn.name for fn, _ in LIST_ROUTES])
@pytest.mark.parametrize("sent", [{"offset": str(10**30)}, {"offset": str(MAX_OFFSET + 1)}, {"offset": "-1"},
                                  {"limit": str(MAX_LIMIT + 1)}, {"limit": "0"}])
def test_every_list_route_answers_an_out_of_range_page_with_422(fn: Function, query: dict[str, Any],
                                                                sent: dict[str, str]) -> None:
    response = _call(fn, sent)
    assert response["statusCode"] == 422, response["body"]
    [problem] = json.loads(response["body"])["detail"]
    assert problem["loc"] == ["query", *sent]


def test_a_huge_offset_on_admin_users_is_a_422_not_a_500() -> None:
    """Regression: GET /admin/users had no offset bound, and 10**30 reached the database (500)."""
    response = _call(function("lms-admin-list-users"), {"offset": str(10**30)})
    assert response["statusCode"] == 422
