"""Idempotency-Key records: one DynamoDB table per service stack with mutating routes, and exact grants.

Every function with a mutating route (derived from its catalogue route) may GetItem/PutItem/UpdateItem/
DeleteItem on its own service's table and nothing else of DynamoDB, and is told the table's name; no
other function touches DynamoDB.
"""

from __future__ import annotations

import pytest
from smartcourse.catalogue import Service
from smartcourse.idempotency import EXPIRY_ATTRIBUTE, KEY_ATTRIBUTE, MUTATING_METHODS

from stacks.constructs.idempotency_table import TABLE_ACTIONS, TABLE_VARIABLE, takes_idempotency_key
from stacks.services import ALL_FUNCTIONS, CATALOGUES
from tests.infrastructure.test_infra_stacks import Synth, _actions, _synth, _targets, role_statements

pytestmark = pytest.mark.infrastructure

MUTATING = [f for f in ALL_FUNCTIONS for r in f.routes if r.method in MUTATING_METHODS]


@pytest.fixture(scope="module", params=["dev", "prod"])
def synth(request: pytest.FixtureRequest) -> Synth:
    return _synth(str(request.param))


def test_the_catalogues_mutating_routes_are_what_takes_a_key() -> None:
    # Issue 11 counted 46 mutating routes over the three APIs; each is one function.
    assert len(MUTATING) == 46
    assert {f.name for f in ALL_FUNCTIONS if takes_idempotency_key(f)} == {f.name for f in MUTATING}


def _table(synth: Synth, service: Service) -> str:
    [lid] = synth.services[service].of_type("AWS::DynamoDB::Table")
    return lid


def test_one_table_per_service_with_mutating_routes(synth: Synth) -> None:
    with_routes = {f.service for f in MUTATING}
    assert with_routes == {Service.LMS, Service.NOTIFICATION, Service.AI, Service.ANALYTICS}
    for service in CATALOGUES:
        tables = synth.services[service].of_type("AWS::DynamoDB::Table")
        assert len(tables) == (1 if service in with_routes else 0), service
    assert not synth.shared.of_type("AWS::DynamoDB::Table")
    for service in with_routes:
        resource = synth.services[service].resources[_table(synth, service)]
        props = resource["Properties"]
        assert props["TableName"] == synth.full_name(f"{service}-idempotency")
        assert props["KeySchema"] == [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
        assert props["AttributeDefinitions"] == [{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["TimeToLiveSpecification"] == {"AttributeName": EXPIRY_ATTRIBUTE, "Enabled": True}
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"]["SSEEnabled"] is True
        prod_stage = synth.stage == "prod"
        assert resource["DeletionPolicy"] == ("Retain" if prod_stage else "Delete")
        assert props.get("DeletionProtectionEnabled", False) is prod_stage


def test_exactly_the_functions_with_a_mutating_route_use_their_services_table(synth: Synth) -> None:
    for spec in ALL_FUNCTIONS:
        view = synth.home(spec)
        dynamo = [s for s in role_statements(view, synth.role(spec))
                  if any(a.startswith("dynamodb:") for a in _actions(s))]
        env = synth.env(spec)
        if not takes_idempotency_key(spec):
            assert dynamo == [] and TABLE_VARIABLE not in env, spec.name
            continue
        table = _table(synth, spec.service)
        [statement] = dynamo
        assert statement["Effect"] == "Allow"
        assert sorted(_actions(statement)) == sorted(TABLE_ACTIONS), spec.name
        assert _targets(statement) == [{"Fn::GetAtt": [table, "Arn"]}], spec.name
        assert env[TABLE_VARIABLE] == {"Ref": table}, spec.name


def test_functions_in_the_vpc_reach_dynamodb_through_a_gateway_endpoint(synth: Synth) -> None:
    endpoints = synth.shared.of_type("AWS::EC2::VPCEndpoint").values()
    services = [e["Properties"]["ServiceName"] for e in endpoints if e["Properties"]["VpcEndpointType"] == "Gateway"]
    assert any("dynamodb" in str(name) for name in services), services
