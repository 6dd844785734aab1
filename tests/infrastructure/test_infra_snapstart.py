"""Lambda SnapStart in the staging and prod synths: the API and consumer functions run from published versions
behind a ``live`` alias, and everything that invokes them (API Gateway integrations and permissions, the
authorizers, event source mappings, schedules) invokes that alias. The dev stage, which the local runner
synthesizes and runs as ``$LATEST``, has none of it.
"""

from __future__ import annotations

from typing import Any

import pytest
from smartcourse.catalogue import Function
from smartcourse_lms.catalogue import AUTHORIZER

from stacks.constructs.service_function import snap_started
from stacks.services import ALL_FUNCTIONS
from tests.infrastructure.test_infra_stacks import Synth, _synth, functions_by_name

pytestmark = pytest.mark.infrastructure

ON = {"ApplyOn": "PublishedVersions"}


def _waited_on(spec: Function, synth: Synth) -> bool:
    """An API function (routes, the authorizer) or a consumer (Kafka, SQS): what a request or an event waits on."""
    if spec.name == AUTHORIZER.name:
        return synth.config.authorizer_provisioned_concurrency == 0  # provisioned concurrency instead
    return bool(spec.routes) or spec.kafka is not None or spec.sqs is not None


@pytest.fixture(scope="module", params=["staging", "prod"])
def deployed(request: pytest.FixtureRequest) -> Synth:
    return _synth(str(request.param))


@pytest.fixture(scope="module")
def dev() -> Synth:
    return _synth("dev")


def _function(synth: Synth, spec: Function) -> dict[str, Any]:
    view, lid = synth.function(spec)
    return dict(view.resources[lid]["Properties"])


def test_api_and_consumer_functions_have_snapstart_on_published_versions(deployed: Synth) -> None:
    waited_on = [f for f in ALL_FUNCTIONS if _waited_on(f, deployed)]
    assert len(waited_on) > 90  # every routed function, the authorizer (staging) and the consumers
    for spec in ALL_FUNCTIONS:
        props = _function(deployed, spec)
        assert snap_started(spec, deployed.config) == _waited_on(spec, deployed), spec.name
        assert props.get("SnapStart") == (ON if _waited_on(spec, deployed) else None), spec.name
        assert props["Runtime"] == "python3.12", spec.name  # SnapStart for Python needs 3.12+


def test_each_snapstart_function_has_a_live_alias_of_its_published_version(deployed: Synth) -> None:
    for spec in (f for f in ALL_FUNCTIONS if _waited_on(f, deployed)):
        view = deployed.home(spec)
        lid = functions_by_name(view)[spec.name]
        aliases = [r["Properties"] for r in view.of_type("AWS::Lambda::Alias").values()
                   if r["Properties"]["FunctionName"] == {"Ref": lid}]
        [alias] = aliases
        assert alias["Name"] == "live", spec.name
        assert "ProvisionedConcurrencyConfig" not in alias, spec.name  # Lambda refuses it with SnapStart
        version_lid = alias["FunctionVersion"]["Fn::GetAtt"][0]
        version = view.resources[version_lid]
        assert version["Type"] == "AWS::Lambda::Version", spec.name
        assert version["Properties"]["FunctionName"] == {"Ref": lid}, spec.name


def test_integrations_authorizers_mappings_and_schedules_invoke_the_alias(deployed: Synth) -> None:
    invoked: dict[str, set[str]] = {}
    for view in deployed.views:
        for method in view.of_type("AWS::ApiGateway::Method").values():
            integration = method["Properties"].get("Integration", {})
            if integration.get("Type") == "AWS_PROXY":
                invoked.setdefault("integration", set()).add(str(deployed.function_key(view, integration["Uri"])))
        for authorizer in view.of_type("AWS::ApiGateway::Authorizer").values():
            invoked.setdefault("authorizer", set()).add(
                str(deployed.function_key(view, authorizer["Properties"]["AuthorizerUri"])))
        for permission in view.of_type("AWS::Lambda::Permission").values():
            if permission["Properties"]["Principal"] == "apigateway.amazonaws.com":
                invoked.setdefault("permission", set()).add(
                    str(deployed.function_key(view, permission["Properties"]["FunctionName"])))
        for mapping in view.of_type("AWS::Lambda::EventSourceMapping").values():
            invoked.setdefault("mapping", set()).add(
                str(deployed.function_key(view, mapping["Properties"]["FunctionName"])))
    routed = {f for f in ALL_FUNCTIONS if f.routes}
    consumers = {f for f in ALL_FUNCTIONS if f.kafka is not None or f.sqs is not None}
    assert invoked["integration"] == {f"{f.name}:live" for f in routed}
    assert invoked["permission"] == invoked["integration"] | {deployed.invoked(AUTHORIZER)}
    assert invoked["authorizer"] == {f"{AUTHORIZER.name}:live"}  # SnapStart (staging) or provisioned (prod)
    assert invoked["mapping"] == {f"{f.name}:live" for f in consumers}
    for view in deployed.views:
        for schedule in view.of_type("AWS::Scheduler::Schedule").values():
            key = str(deployed.function_key(view, schedule["Properties"]["Target"]["Arn"]))
            spec = next(f for f in ALL_FUNCTIONS if key.split(":")[0] == f.name)
            assert key == deployed.invoked(spec), key


def test_dev_stage_runs_latest_without_snapstart(dev: Synth) -> None:
    """The local runner synthesizes dev and invokes functions as $LATEST: no SnapStart, no aliases, and no
    published version of an API or consumer function."""
    waited_on = {f.name for f in ALL_FUNCTIONS if f.routes or f.kafka is not None or f.sqs is not None}
    waited_on.add(AUTHORIZER.name)
    for spec in ALL_FUNCTIONS:
        assert "SnapStart" not in _function(dev, spec), spec.name
    for view in dev.views:
        assert view.of_type("AWS::Lambda::Alias") == {}, view.name
        versioned = {dev.function_key(view, v["Properties"]["FunctionName"])
                     for v in view.of_type("AWS::Lambda::Version").values()}
        assert not versioned & waited_on, view.name
