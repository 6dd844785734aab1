"""CDK assertions on the synthesized dev and prod templates (bundling skipped).

The app is ``smartcourse-<stage>-shared`` (network, database, secrets, event cluster, the platform functions)
and one stack per service, each REST API in a nested stack of its service's stack. Routes, authorizers, IAM,
database isolation, layers, logging and lifecycle are checked against the service catalogues and the app-wide
registry (``stacks.services``), the single source of truth, so a catalogue change is covered without touching
this file. References are followed the way CloudFormation resolves them (``Ref`` / ``Fn::GetAtt`` in a
template, ``Fn::ImportValue`` of the shared stack's exports, nested-stack parameters and outputs); functions of
another stack are recognised by their deterministic names in ARNs.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, NestedStack, Stack
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from smartcourse.catalogue import KAFKA_TOPICS, MIGRATE, Function, Grant, HttpRoute, Service
from smartcourse.db.names import database_name, role_name
from smartcourse_ai.catalogue import INDEX_QUEUE
from smartcourse_analytics.catalogue import REPORT_QUEUE
from smartcourse_events.registry import topic_for
from smartcourse_events.topics import ALL_TOPICS
from smartcourse_lms.catalogue import AUTHORIZER
from smartcourse_notification.catalogue import SEND_QUEUE

from stacks import services
from stacks.app_builder import SmartCourseApp, build, cdk_json_context
from stacks.constructs.service_function import snap_started
from stacks.service_stack import MAX_RECEIVE_COUNT, ServiceStack
from stacks.services import ALL_FUNCTIONS, APIS, CATALOGUES, api_functions, outbox_publisher
from stacks.stage_config import StageConfig, stage_config

pytestmark = pytest.mark.infrastructure

ROOT = Path(__file__).resolve().parents[2]
RETENTION_DAYS = {"dev": 7, "prod": 365}
# Per template of a prod synth, nested stacks included (CloudFormation's hard limit is 500). SnapStart adds a
# published version and a "live" alias to each API and consumer function: ~110 resources in the LMS stack.
MAX_RESOURCES = 400
DB_ADMIN_USER = "smartcourse_admin"
PROXY_PORT = "5432"
DOCS_PATHS = ("/openapi.json", "/docs", "/docs.js", "/docs.css")
# What every service API without routes of its own serves (issue 8): health and the documentation, public.
HEALTH_AND_DOCS = {("GET", "/health"), *(("GET", p) for p in DOCS_PATHS)}
LAYER_KINDS = ("code", "dependencies")
PLATFORM = str(Service.PLATFORM)


# --- synthesis --------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class View:
    """One template of the synth: a top-level stack, or a nested stack (``parent`` set)."""

    name: str
    stack: Stack
    template: Template
    json: dict[str, Any]
    parent: View | None = None
    parent_resource: str | None = None  # the AWS::CloudFormation::Stack logical id in ``parent``

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.json["Resources"])

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.json["Resources"].items() if r["Type"] == resource_type}


def _view(stack: Stack, parent: View | None = None) -> View:
    template = Template.from_stack(stack)
    parent_resource = None
    if parent is not None:
        assert isinstance(stack, NestedStack) and stack.nested_stack_resource is not None
        parent_resource = parent.stack.get_logical_id(stack.nested_stack_resource)
    name = stack.stack_name if parent is None else f"{parent.name}/{stack.node.id}"
    return View(name, stack, template, dict(template.to_json()), parent, parent_resource)


def nested_stacks(stack: Stack) -> list[NestedStack]:
    return [child for child in stack.node.children if isinstance(child, NestedStack)]


@dataclass
class Synth:
    stage: str
    built: SmartCourseApp
    shared: View
    services: dict[Service, View]
    apis: dict[Service, View]  # each API's nested stack, by the service whose API it is

    @property
    def config(self) -> StageConfig:
        return self.built.config

    @property
    def stacks(self) -> list[View]:
        return [self.shared, *self.services.values()]

    @property
    def views(self) -> list[View]:
        """Every template: the stacks and their nested stacks."""
        return [*self.stacks, *self.apis.values()]

    def home(self, spec: Function) -> View:
        """The stack a function belongs in: its service's, the shared stack for the platform's."""
        return self.shared if spec.service is Service.PLATFORM else self.services[spec.service]

    def function(self, spec: Function) -> tuple[View, str]:
        view = self.home(spec)
        return view, functions_by_name(view)[spec.name]

    def props(self, spec: Function) -> dict[str, Any]:
        view, lid = self.function(spec)
        return dict(view.resources[lid]["Properties"])

    def env(self, spec: Function) -> dict[str, Any]:
        return dict(self.props(spec)["Environment"]["Variables"])

    def role(self, spec: Function) -> str:
        return str(self.props(spec)["Role"]["Fn::GetAtt"][0])

    def full_name(self, name: str) -> str:
        return f"smartcourse-{self.stage}-{name}"

    # --- following references ------------------------------------------------------------------------------------

    def child(self, view: View, stack_lid: str) -> View:
        [found] = [v for v in self.views if v.parent is view and v.parent_resource == stack_lid]
        return found

    def deref(self, view: View, expr: Any) -> tuple[View, Any]:
        """Follow ``Fn::ImportValue`` (the shared stack's exports), nested-stack parameters and outputs to the
        expression that produces the value, and the template it is in."""
        if isinstance(expr, dict):
            if isinstance(expr.get("Fn::ImportValue"), str):
                exports = exported_values(self.shared)
                return self.deref(self.shared, exports[expr["Fn::ImportValue"]])
            ref = expr.get("Ref")
            if isinstance(ref, str) and view.parent is not None and ref in view.json.get("Parameters", {}):
                assert view.parent_resource is not None
                value = view.parent.resources[view.parent_resource]["Properties"]["Parameters"][ref]
                return self.deref(view.parent, value)
            if "Fn::GetAtt" in expr:
                lid, attribute = expr["Fn::GetAtt"]
                if view.resources[lid]["Type"] == "AWS::CloudFormation::Stack" and attribute.startswith("Outputs."):
                    nested = self.child(view, lid)
                    return self.deref(nested, nested.json["Outputs"][attribute.removeprefix("Outputs.")]["Value"])
        return view, expr

    def resolve(self, view: View, expr: Any) -> tuple[View, str] | None:
        """The resource an expression is a ``Ref`` / ``Fn::GetAtt`` of, wherever it lives; None for literals and
        pseudo parameters."""
        view, expr = self.deref(view, expr)
        if isinstance(expr, dict):
            if isinstance(expr.get("Ref"), str) and expr["Ref"] in view.resources:
                return view, expr["Ref"]
            if "Fn::GetAtt" in expr:
                return view, expr["Fn::GetAtt"][0]
        return None

    def resolved(self, view: View, expr: Any) -> list[tuple[View, str]]:
        """Every resource referenced anywhere inside ``expr`` (depth first)."""
        out = []
        for node in _reference_nodes(expr):
            found = self.resolve(view, node)
            if found is not None:
                out.append(found)
        return out

    def render(self, view: View, expr: Any, subst: Callable[[View, Any], str | None] | None = None) -> str:
        """``expr`` as text: ``Fn::Join`` joined, pseudo parameters and other references as ``{}`` (or what
        ``subst`` makes of them)."""
        if isinstance(expr, str):
            return expr
        if isinstance(expr, dict) and "Fn::Join" in expr:
            delimiter, parts = expr["Fn::Join"]
            return str(delimiter).join(self.render(view, p, subst) for p in parts)
        if isinstance(expr, dict) and str(expr.get("Ref", "")).startswith("AWS::"):
            return "{}"  # partition, region, account
        if subst is not None:
            text = subst(view, expr)
            if text is not None:
                return text
        return "{}"

    def function_key(self, view: View, expr: Any) -> str | None:
        """The catalogue function an ARN / integration URI designates: ``name``, or ``name:alias`` through an
        alias; a function of another stack by its deterministic name (``arn:...:function:smartcourse-<stage>-``
        ``<name>[:<qualifier>]``)."""
        for found_view, lid in self.resolved(view, expr):
            key = self._function_resource_key(found_view, lid)
            if key is not None:
                return key
        match = re.search(rf"arn:\{{\}}:lambda:\{{\}}:\{{\}}:function:smartcourse-{self.stage}-([a-z0-9-]+)"
                          r"(?::([A-Za-z0-9_-]+))?(?:/invocations)?$", self.render(view, expr))
        if match is None:
            return None
        return match.group(1) if match.group(2) is None else f"{match.group(1)}:{match.group(2)}"

    def invoked(self, spec: Function) -> str:
        """What API Gateway, the authorizers, mappings and schedules invoke for ``spec`` (as :meth:`function_key`
        names it): its ``live`` alias with SnapStart or provisioned concurrency, else the function."""
        provisioned = spec.name == AUTHORIZER.name and self.config.authorizer_provisioned_concurrency > 0
        return f"{spec.name}:live" if provisioned or snap_started(spec, self.config) else spec.name

    def by_name(self, view: View, expr: Any) -> bool:
        """True when ``expr`` designates its function by name only (no reference to any resource)."""
        return not self.resolved(view, expr)

    def _function_resource_key(self, view: View, lid: str) -> str | None:
        res = view.resources[lid]
        if res["Type"] == "AWS::Lambda::Function":
            name = (res.get("Metadata") or {}).get("smartcourse:function")
            return str(name) if name else None
        if res["Type"] == "AWS::Lambda::Alias":
            target = self.function_key(view, res["Properties"]["FunctionName"])
            return f"{target}:{res['Properties']['Name']}"
        if res["Type"] == "AWS::Lambda::Version":
            return self.function_key(view, res["Properties"]["FunctionName"])
        return None

    # --- secrets -------------------------------------------------------------------------------------------------

    def secret_labels(self) -> dict[str, str]:
        """Secret logical id (shared stack) -> ``jwt``, ``master`` or the service whose database credentials it is."""
        out = {}
        for lid, res in self.shared.of_type("AWS::SecretsManager::Secret").items():
            props = res["Properties"]
            generated = props["GenerateSecretString"]
            match = re.fullmatch(rf"smartcourse-{self.stage}-(.+)-db-credentials", str(props.get("Name", "")))
            if "SecretStringTemplate" not in generated:
                out[lid] = "jwt"
            elif match:
                out[lid] = match.group(1)
            elif json.loads(generated["SecretStringTemplate"]).get("username") == DB_ADMIN_USER:
                out[lid] = "master"
        return out

    def secret_label(self, view: View, expr: Any) -> str:
        """Which secret an ARN expression designates (through its RDS target attachment)."""
        found = self.resolve(view, expr)
        assert found is not None, expr
        found_view, lid = found
        assert found_view is self.shared, (view.name, expr)
        res = found_view.resources[lid]
        if res["Type"] == "AWS::SecretsManager::SecretTargetAttachment":
            lid = res["Properties"]["SecretId"]["Ref"]
        return self.secret_labels()[lid]

    def secrets_read(self, spec: Function) -> set[str]:
        view = self.home(spec)
        out: set[str] = set()
        for statement in role_statements(view, self.role(spec)):
            if any(a.startswith("secretsmanager:") for a in _actions(statement)):
                assert statement["Effect"] == "Allow" and statement["Resource"] != "*", spec.name
                out |= {self.secret_label(view, target) for target in _targets(statement)}
        return out

    def db_users(self, spec: Function) -> set[str]:
        """The database users the function may ``rds-db:connect`` as (through the stage's proxy only)."""
        view = self.home(spec)
        [proxy] = self.shared.of_type("AWS::RDS::DBProxy")
        users = set()
        for statement in role_statements(view, self.role(spec)):
            if "rds-db:connect" in _actions(statement):
                for target in _targets(statement):
                    match = re.fullmatch(r"arn:\{\}:rds-db:\{\}:\{\}:dbuser:\{\}/(.+)", self.render(view, target))
                    assert match, target
                    assert {(v.name, lid) for v, lid in self.resolved(view, target)} == {(self.shared.name, proxy)}
                    users.add(match.group(1))
        return users


def _synth(stage: str) -> Synth:
    app = App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": [], "stage": stage})
    built = build(app)
    shared = _view(built.shared)
    service_views = {stack.service: _view(stack) for stack in built.service_stacks}
    apis: dict[Service, View] = {}
    for service, view in service_views.items():
        for nested in nested_stacks(view.stack):
            apis[service] = _view(nested, view)
    return Synth(stage, built, shared, service_views, apis)


@pytest.fixture(scope="module")
def dev() -> Synth:
    return _synth("dev")


@pytest.fixture(scope="module")
def prod() -> Synth:
    return _synth("prod")


@pytest.fixture(scope="module", params=["dev", "prod"])
def synth(request: pytest.FixtureRequest, dev: Synth, prod: Synth) -> Synth:
    return dev if request.param == "dev" else prod


# Functions the catalogues do not have, added to a synth of their own (``probe``): one with both bucket grants
# (the prefix scoping of each), one AI route behind the authorizer and one open to anyone (the AI API then
# needs the LMS's authorizer, by name).
STORAGE_PROBE = Function(
    name="lms-storage-probe", service=Service.LMS, handler="lms.storage_probe.handler",
    description="infrastructure test: both bucket grants",
    grants=frozenset({Grant.CONTENT_BUCKET, Grant.CERTIFICATE_BUCKET}),
)
AI_PROBE = Function(
    name="ai-probe", service=Service.AI, handler="ai.probe.handler",
    description="infrastructure test: AI routes behind the platform's authorizer",
    routes=(HttpRoute("GET", "/probe"), HttpRoute("GET", "/probe/anyone", anonymous=True)),
)


@pytest.fixture(scope="module", params=["dev", "prod"])
def probe(request: pytest.FixtureRequest) -> Synth:
    with pytest.MonkeyPatch.context() as patch:
        for spec in (STORAGE_PROBE, AI_PROBE):
            own = CATALOGUES[spec.service]
            patch.setitem(CATALOGUES, spec.service, dataclasses.replace(own, functions=(*own.functions, spec)))
        everything = (*services.ALL_FUNCTIONS, STORAGE_PROBE, AI_PROBE)
        patch.setattr(services, "ALL_FUNCTIONS", everything)
        patch.setattr(services, "_BY_NAME", {f.name: f for f in everything})
        return _synth(str(request.param))


# --- template walking -------------------------------------------------------------------------------------------

def _reference_nodes(expr: Any) -> Iterator[dict[str, Any]]:
    """The ``Ref`` / ``Fn::GetAtt`` / ``Fn::ImportValue`` nodes of an expression, depth first."""
    if isinstance(expr, dict):
        if isinstance(expr.get("Ref"), str) or "Fn::GetAtt" in expr or isinstance(expr.get("Fn::ImportValue"), str):
            yield expr
            return
        for value in expr.values():
            yield from _reference_nodes(value)
    elif isinstance(expr, list):
        for value in expr:
            yield from _reference_nodes(value)


def _imports(expr: Any) -> Iterator[str]:
    if isinstance(expr, dict):
        if isinstance(expr.get("Fn::ImportValue"), str):
            yield expr["Fn::ImportValue"]
        for value in expr.values():
            yield from _imports(value)
    elif isinstance(expr, list):
        for value in expr:
            yield from _imports(value)


def exported_values(shared: View) -> dict[str, Any]:
    """Export name -> the output's value in the shared template."""
    out = {}
    for output in shared.json.get("Outputs", {}).values():
        export = (output.get("Export") or {}).get("Name")
        if export:
            out[export] = output["Value"]
    return out


def functions_by_name(view: View) -> dict[str, str]:
    """Catalogue name -> logical id, from the ``smartcourse:function`` metadata."""
    out: dict[str, str] = {}
    for lid, res in view.of_type("AWS::Lambda::Function").items():
        name = (res.get("Metadata") or {}).get("smartcourse:function")
        if name:
            assert name not in out, f"two functions carry smartcourse:function={name}"
            out[name] = lid
    return out


def resource_paths(view: View) -> dict[str, str]:
    """AWS::ApiGateway::Resource logical id -> full path, rebuilt from PathPart / ParentId."""
    parts = {lid: r["Properties"] for lid, r in view.of_type("AWS::ApiGateway::Resource").items()}

    def path(lid: str) -> str:
        props = parts[lid]
        parent = props["ParentId"]
        if "Fn::GetAtt" in parent:
            assert parent["Fn::GetAtt"][1] == "RootResourceId"
            return "/" + props["PathPart"]
        return path(parent["Ref"]) + "/" + props["PathPart"]

    return {lid: path(lid) for lid in parts}


def methods(view: View) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, full path) -> the AWS::ApiGateway::Method properties."""
    paths = resource_paths(view)
    out = {}
    for res in view.of_type("AWS::ApiGateway::Method").values():
        props = res["Properties"]
        resource_id = props["ResourceId"]
        path = "/" if "Fn::GetAtt" in resource_id else paths[resource_id["Ref"]]
        key = (props["HttpMethod"], path)
        assert key not in out, f"duplicate method {key}"
        out[key] = props
    return out


def role_statements(view: View, role_lid: str) -> list[dict[str, Any]]:
    role = view.resources[role_lid]["Properties"]
    statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    assert not role.get("ManagedPolicyArns"), f"{role_lid} has managed policies"
    for res in view.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_lid} in res["Properties"].get("Roles", []):
            statements.extend(res["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _targets(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return list(resource) if isinstance(resource, list) else [resource]


def _service_stack(view: View) -> ServiceStack:
    assert isinstance(view.stack, ServiceStack), view.name
    return view.stack


def in_vpc(spec: Function) -> bool:
    return bool(spec.grants & {Grant.DATABASE, Grant.DATABASE_ADMIN, Grant.KAFKA_PRODUCE, Grant.KAFKA_TOPICS})


def route_keys(functions: Sequence[Function]) -> dict[tuple[str, str], Function]:
    return {(r.method.upper(), r.path): f for f in functions for r in f.routes}


def dependencies_closure(stack: Stack) -> set[str]:
    out: set[str] = set()
    todo = list(stack.dependencies)
    while todo:
        dependency = todo.pop()
        if dependency.stack_name not in out:
            out.add(dependency.stack_name)
            todo.extend(dependency.dependencies)
    return out


def _nag_report(scope: Any) -> list[str]:
    report = AwsSolutionsChecks().validate_scope(scope)
    return [f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in report.violations]


# --- stacks -----------------------------------------------------------------------------------------------------

def test_stacks_and_their_nested_api_stacks(synth: Synth) -> None:
    stage = synth.stage
    assert synth.built.shared.stack_name == f"smartcourse-{stage}-shared"
    assert {s: v.stack.stack_name for s, v in synth.services.items()} == {
        s: f"smartcourse-{stage}-{s}" for s in CATALOGUES}
    # Exactly the services with an API of their own have one nested stack: their API's.
    assert set(synth.apis) == set(APIS)
    assert nested_stacks(synth.built.shared) == []
    for service, api in synth.apis.items():
        stack = synth.services[service].stack
        assert nested_stacks(stack) == [api.stack]
        assert isinstance(stack, ServiceStack) and stack.api is not None and stack.api.node.scope is api.stack
        [nested_resource] = synth.services[service].of_type("AWS::CloudFormation::Stack")
        assert nested_resource == api.parent_resource


def test_deploy_order(synth: Synth) -> None:
    """shared → notification → LMS → AI, analytics: each stack deploys after what it references by name."""
    built, shared = synth.built, synth.built.shared.stack_name
    assert dependencies_closure(built.shared) == set()
    assert dependencies_closure(built.notification) == {shared}
    assert dependencies_closure(built.lms) == {shared, built.notification.stack_name}
    for stack in (built.ai, built.analytics):
        assert built.lms in stack.dependencies, stack.stack_name
        assert dependencies_closure(stack) == {shared, built.notification.stack_name, built.lms.stack_name}


def test_stacks_reference_only_the_shared_stack(synth: Synth) -> None:
    """Service stacks import the shared stack's outputs and nothing of each other (functions of another service
    are named, not referenced): no export between service stacks, so none can block another's update."""
    for view in synth.views:
        imports = set(_imports(view.json))
        assert all(i.startswith(f"smartcourse-{synth.stage}-shared:") for i in imports), view.name
    for service in (Service.LMS, Service.NOTIFICATION):
        assert set(_imports(synth.services[service].json)), service
    for view in synth.services.values():
        assert not view.json.get("Outputs"), view.name


def test_no_cdk_nag_findings(synth: Synth) -> None:
    findings = _nag_report(synth.built.shared.node.root)
    assert findings == [], "\n".join(findings)
    for view in synth.views:  # each stack and nested stack on its own, too
        findings = _nag_report(view.stack)
        assert findings == [], (view.name, findings)
    for view in synth.stacks:  # nested stacks' annotations are their parent's
        annotations = Annotations.from_stack(view.stack)
        assert annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")) == []
        assert annotations.find_error("*", Match.any_value()) == []


def test_stacks_fit_the_resource_limit(prod: Synth) -> None:
    """Every template of a prod synth, nested stacks included, stays under 400 resources."""
    counts = {view.name: len(view.resources) for view in prod.views}
    assert len(counts) == len(prod.stacks) + len(APIS)
    assert all(count < MAX_RESOURCES for count in counts.values()), counts


def test_function_roles_carry_inline_policies_only(synth: Synth) -> None:
    """One inline policy per function role: no AWS::IAM::Policy resource per function (resource count, and a
    role complete before its function exists)."""
    for view in synth.stacks:
        roles = {str(view.resources[lid]["Properties"]["Role"]["Fn::GetAtt"][0])
                 for lid in functions_by_name(view).values()}
        policies = [lid for lid, r in view.of_type("AWS::IAM::Policy").items()
                    if any(ref.get("Ref") in roles for ref in r["Properties"].get("Roles", []))]
        assert policies == [], view.name


# --- functions --------------------------------------------------------------------------------------------------

def test_every_function_is_deployed_once_in_its_own_services_stack(synth: Synth) -> None:
    everywhere = [(view.name, name) for view in synth.views for name in functions_by_name(view)]
    assert sorted(n for _, n in everywhere) == sorted(f.name for f in ALL_FUNCTIONS)
    assert all(view.parent is None for view in synth.views if functions_by_name(view)), "no function in an API stack"
    for view_name, name in everywhere:
        assert view_name == synth.home(services.function(name)).name, name
    for view in synth.stacks:
        # One code asset per stack (its service's handlers), another stack's never.
        code = {json.dumps(view.resources[lid]["Properties"]["Code"]) for lid in functions_by_name(view).values()}
        assert len(code) == 1, view.name
    assets = [json.dumps(v.resources[next(iter(functions_by_name(v).values()))]["Properties"]["Code"])
              for v in synth.stacks]
    assert len(set(assets)) == len(assets)
    for spec in ALL_FUNCTIONS:
        _check_function(synth, synth.props(spec), spec)


def _check_function(synth: Synth, props: dict[str, Any], spec: Function) -> None:
    assert props["Handler"] == spec.handler
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["Timeout"] == spec.timeout_seconds
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["FunctionName"] == synth.full_name(spec.name)
    # The handler is in its stack's code asset: functions/<service>/ or the shared functions/platform_fns/.
    package = spec.handler.split(".", 1)[0]
    assert package in {str(spec.service), "platform_fns"}, spec.name
    assert (ROOT / "functions" / (spec.module.replace(".", "/") + ".py")).is_file(), spec.name


def test_each_stack_has_its_own_two_layers(synth: Synth) -> None:
    """Dependencies (from requirements/<owner>.lock) and code (core, contracts, the service's package): every
    function of a stack runs with exactly that stack's two layers, so none carries another service's."""
    assets: dict[str, dict[str, str]] = defaultdict(dict)  # kind -> owner -> asset
    for view in synth.views:
        layers = view.of_type("AWS::Lambda::LayerVersion")
        if view.parent is not None:
            assert layers == {}, view.name
            continue
        owner = PLATFORM if view is synth.shared else str(_service_stack(view).service)
        kinds = {r["Metadata"]["smartcourse:layer"]: lid for lid, r in layers.items()}
        assert sorted(kinds) == sorted(LAYER_KINDS) and len(layers) == 2, view.name
        for kind, lid in kinds.items():
            res = layers[lid]
            props = res["Properties"]
            assert res["Metadata"]["smartcourse:layer-owner"] == owner, (view.name, kind)
            assert props["LayerName"] == synth.full_name(f"{owner}-{kind}")
            assert props["CompatibleRuntimes"] == ["python3.12"]
            assert props["CompatibleArchitectures"] == ["arm64"]
            assets[kind][owner] = json.dumps(props["Content"])
        assert f"requirements/{owner}.lock" in layers[kinds["dependencies"]]["Properties"]["Description"]
        for name, lid in functions_by_name(view).items():
            used = view.resources[lid]["Properties"]["Layers"]
            assert sorted(layer["Ref"] for layer in used) == sorted(kinds.values()), name
            spec = services.function(name)
            assert {layers[layer["Ref"]]["Metadata"]["smartcourse:layer-owner"] for layer in used} == {
                str(spec.service)}, name
    owners = {PLATFORM, *(str(s) for s in CATALOGUES)}
    assert set(assets["code"]) == set(assets["dependencies"]) == owners
    assert len(set(assets["code"].values())) == len(owners), "a code layer per owner"
    # A dependency layer is its owner's lock: two owners share an asset only when their locks are the same.
    locks = {owner: (ROOT / "requirements" / f"{owner}.lock").read_bytes() for owner in owners}
    for a in owners:
        for b in owners - {a}:
            assert (assets["dependencies"][a] == assets["dependencies"][b]) == (locks[a] == locks[b]), (a, b)


def test_reserved_concurrency_follows_the_stage(dev: Synth, prod: Synth) -> None:
    # dev: no stage-wide reservation; only a function's own cap (the nudged outbox publisher's) remains.
    own_caps = {f.name: f.reserved_concurrency for f in ALL_FUNCTIONS if f.reserved_concurrency is not None}
    assert own_caps
    capped = {f.name: dev.props(f).get("ReservedConcurrentExecutions") for f in ALL_FUNCTIONS}
    assert {n: c for n, c in capped.items() if c is not None} == own_caps
    # prod: every function serving requests (routes, direct invokes) is capped by the stage; triggered ones
    # are bounded by their partitions / mappings / schedule; the migrate function runs one at a time.
    stage_cap = prod.config.reserved_concurrency
    assert stage_cap
    for spec in ALL_FUNCTIONS:
        reserved = prod.props(spec).get("ReservedConcurrentExecutions")
        triggered = spec.kafka is not None or spec.sqs is not None or spec.schedule is not None
        if spec.reserved_concurrency is not None:
            assert reserved == spec.reserved_concurrency, spec.name
        elif spec is MIGRATE:
            assert reserved == 1
        elif spec.service is Service.PLATFORM or triggered:
            assert reserved is None, spec.name
        else:
            assert reserved == stage_cap, spec.name


# --- APIs -------------------------------------------------------------------------------------------------------

def _stage_arn_path(view: View, synth: Synth, expr: Any) -> str | None:
    """``METHOD/path`` of an execute-api ARN of ``view``'s own REST API (``*`` for path parameters)."""
    [rest_api] = view.of_type("AWS::ApiGateway::RestApi")
    if (view.name, rest_api) not in {(v.name, lid) for v, lid in synth.resolved(view, expr)}:
        return None
    match = re.fullmatch(r"arn:\{\}:execute-api:\{\}:\{\}:\{\}/\{\}/([A-Z]+)(/.*)", synth.render(view, expr))
    return f"{match.group(1)}{match.group(2)}" if match else None


def _check_routes(synth: Synth, service: Service, routed: Sequence[Function]) -> None:
    api = synth.apis[service]
    wired = methods(api)
    expected = route_keys(routed)
    assert set(wired) == set(expected), f"the {service} API has exactly the routes of its functions"
    authorizers = _authorizers(api)
    permissions = {}
    for permission in api.of_type("AWS::Lambda::Permission").values():
        props = permission["Properties"]
        arn_path = _stage_arn_path(api, synth, props["SourceArn"])
        if arn_path is not None:
            assert props["Principal"] == "apigateway.amazonaws.com" and props["Action"] == "lambda:InvokeFunction"
            permissions[arn_path] = synth.function_key(api, props["FunctionName"])
    for (method, path), spec in expected.items():
        props = wired[(method, path)]
        integration = props["Integration"]
        assert integration["Type"] == "AWS_PROXY" and integration["IntegrationHttpMethod"] == "POST"
        assert synth.function_key(api, integration["Uri"]) == synth.invoked(spec), (method, path)
        # Another service's function (the notification routes on the LMS API) is named, never referenced.
        assert synth.by_name(api, integration["Uri"]) == (spec.service is not service), (method, path)
        # API Gateway may invoke it for this method only.
        assert permissions.get(method + re.sub(r"\{[^}]+\}", "*", path)) == synth.invoked(spec), (method, path)
        route = next(r for r in spec.routes if (r.method.upper(), r.path) == (method, path))
        if route.authorized:
            assert props["AuthorizationType"] == "CUSTOM", route
            kind = "optional" if route.anonymous else "required"
            assert props["AuthorizerId"] == {"Ref": authorizers[kind]}, route
        else:
            assert props["AuthorizationType"] == "NONE", route
            assert "AuthorizerId" not in props, route
    # An authorizer only where a route uses it (API Gateway refuses an unused one).
    used = {"optional" if r.anonymous else "required" for f in routed for r in f.routes if r.authorized}
    assert set(authorizers) == used, service


def test_every_route_is_wired(synth: Synth) -> None:
    assert set(APIS) == {Service.LMS, Service.AI, Service.ANALYTICS}
    for service in APIS:
        routed = api_functions(service)
        assert routed, service
        _check_routes(synth, service, routed)
    # The notification service's routes are on the LMS API (the spec), its functions in its own stack.
    notification_routes = [f for f in api_functions(Service.LMS) if f.service is Service.NOTIFICATION]
    assert notification_routes
    assert all(f.name in functions_by_name(synth.services[Service.NOTIFICATION]) for f in notification_routes)
    assert not any(f.routes for f in ALL_FUNCTIONS if f.api_service not in APIS)


def test_ai_and_analytics_serve_health_and_docs_publicly(synth: Synth) -> None:
    for service in (Service.AI, Service.ANALYTICS):
        api = synth.apis[service]
        wired = methods(api)
        assert set(wired) >= HEALTH_AND_DOCS, service
        for (method, path), props in wired.items():
            if (method, path) not in HEALTH_AND_DOCS:
                continue
            assert props["AuthorizationType"] == "NONE" and "AuthorizerId" not in props, (service, path)
            wanted = services.function(f"{service}-health" if path == "/health" else f"{service}-docs")
            assert synth.function_key(api, props["Integration"]["Uri"]) == synth.invoked(wanted), (service, path)


@pytest.mark.parametrize("service", [Service.AI, Service.ANALYTICS])
def test_every_ai_and_analytics_route_is_served_behind_the_lms_authorizer(synth: Synth, service: Service) -> None:
    """Each API serves its catalogue's routes; every one but health and docs requires a signed-in caller."""
    _check_routes(synth, service, api_functions(service))
    _check_authorizers(synth, service)
    for (method, path), props in methods(synth.apis[service]).items():
        if (method, path) not in HEALTH_AND_DOCS:
            assert props["AuthorizationType"] == "CUSTOM" and "AuthorizerId" in props, (method, path)


def _authorizers(api: View) -> dict[str, str]:
    """``{"required": logical id, "optional": logical id}`` (those the API has): the token-keyed, cached one and
    the one for routes open to anyone (no identity source, so it is invoked without a token and never cached)."""
    found = {lid: r["Properties"] for lid, r in api.of_type("AWS::ApiGateway::Authorizer").items()}
    required = [lid for lid, p in found.items() if p.get("IdentitySource")]
    optional = [lid for lid, p in found.items() if not p.get("IdentitySource")]
    assert len(required) <= 1 and len(optional) <= 1
    return {kind: ids[0] for kind, ids in (("required", required), ("optional", optional)) if ids}


def _check_authorizers(synth: Synth, service: Service) -> None:
    """Every authorizer of ``service``'s API is the LMS's authorizer function (through its ``live`` alias when
    the stage keeps it warm), and API Gateway may invoke it for that authorizer."""
    api = synth.apis[service]
    ids = _authorizers(api)
    assert ids, service
    provisioned = synth.config.authorizer_provisioned_concurrency
    wanted = synth.invoked(AUTHORIZER)
    for kind, lid in ids.items():
        props = api.resources[lid]["Properties"]
        assert props["Type"] == "REQUEST"
        assert props["Name"] == synth.full_name(f"{service}-jwt" + ("-optional" if kind == "optional" else ""))
        if kind == "required":
            assert props["IdentitySource"] == "method.request.header.Authorization"
            assert 0 <= props["AuthorizerResultTtlInSeconds"] <= 300
        else:
            assert props["AuthorizerResultTtlInSeconds"] == 0
        assert synth.function_key(api, props["AuthorizerUri"]) == wanted, (service, kind)
        # The LMS owns it; every other API names it (deploy order: LMS first).
        assert synth.by_name(api, props["AuthorizerUri"]) == (service is not Service.LMS), (service, kind)
        granted = [
            p["Properties"] for view in (api, synth.services[service]) for p in view.of_type(
                "AWS::Lambda::Permission").values()
            if (api.name, lid) in {(v.name, x) for v, x in synth.resolved(view, p["Properties"]["SourceArn"])}
            and synth.render(view, p["Properties"]["SourceArn"]).endswith("/authorizers/{}")
            and synth.function_key(view, p["Properties"]["FunctionName"]) == wanted
        ]
        assert len(granted) == 1 and granted[0]["Principal"] == "apigateway.amazonaws.com", (service, kind)
    lms = synth.services[Service.LMS]
    aliases = [r["Properties"] for r in lms.of_type("AWS::Lambda::Alias").values()
               if synth.function_key(lms, r["Properties"]["FunctionName"]) == AUTHORIZER.name]
    if provisioned:
        [alias] = aliases
        assert alias["Name"] == "live"
        assert alias["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": provisioned}
    elif snap_started(AUTHORIZER, synth.config):
        [alias] = aliases
        assert alias["Name"] == "live" and "ProvisionedConcurrencyConfig" not in alias
    else:
        assert aliases == []


def test_authorizer(synth: Synth) -> None:
    assert set(_authorizers(synth.apis[Service.LMS])) == {"required", "optional"}
    _check_authorizers(synth, Service.LMS)


def test_other_apis_use_the_lms_authorizer_by_name(probe: Synth) -> None:
    """An AI route behind the authorizer (a probe: AI has public routes only today) gets the LMS's authorizer
    function, by name, with the ``live`` qualifier exactly where the LMS stack creates that alias."""
    routed = (*api_functions(Service.AI), AI_PROBE)
    _check_routes(probe, Service.AI, routed)
    _check_authorizers(probe, Service.AI)
    _check_authorizers(probe, Service.LMS)
    _check_authorizers(probe, Service.ANALYTICS)
    findings = _nag_report(probe.built.shared.node.root)
    assert findings == [], "\n".join(findings)


def test_api_and_stage(synth: Synth) -> None:
    for service, api in synth.apis.items():
        api.template.has_resource_properties("AWS::ApiGateway::RestApi",
                                             {"Name": synth.full_name(str(service))})
        api.template.has_resource_properties("AWS::ApiGateway::Stage", {
            "StageName": synth.stage,
            "AccessLogSetting": {"DestinationArn": Match.any_value(),
                                 "Format": Match.string_like_regexp("requestId")},
            "TracingEnabled": True,
            "MethodSettings": [Match.object_like({
                "ThrottlingRateLimit": Match.any_value(), "ThrottlingBurstLimit": Match.any_value(),
                "DataTraceEnabled": False,
            })],
        })
        # The shared stack owns the regional API Gateway logging role (the API makes none of its own).
        assert api.of_type("AWS::ApiGateway::Account") == {} and api.of_type("AWS::IAM::Role") == {}, service
    assert len(synth.shared.of_type("AWS::ApiGateway::Account")) == 1


@pytest.mark.parametrize(("response_type", "status", "detail"), [
    ("UNAUTHORIZED", "401", '"Not authenticated"'),
    ("ACCESS_DENIED", "403", '"Forbidden"'),
    ("MISSING_AUTHENTICATION_TOKEN", "404", '"Not Found"'),
    ("REQUEST_TOO_LARGE", "413", None),
    ("INTEGRATION_TIMEOUT", "504", None),
    ("DEFAULT_4XX", None, "$context.error.messageString"),
    ("DEFAULT_5XX", None, None),
])
def test_gateway_responses_have_the_error_shape(dev: Synth, response_type: str, status: str | None,
                                                detail: str | None) -> None:
    for service, api in dev.apis.items():
        found = [r["Properties"] for r in api.of_type("AWS::ApiGateway::GatewayResponse").values()
                 if r["Properties"]["ResponseType"] == response_type]
        assert len(found) == 1, service
        props = found[0]
        assert props.get("StatusCode") == status
        template = props["ResponseTemplates"]["application/json"]
        assert template.startswith('{"detail": ')
        if detail:
            assert detail in template
        assert props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"


def test_waf_follows_the_stage(dev: Synth, prod: Synth) -> None:
    for view in dev.views:
        assert view.of_type("AWS::WAFv2::WebACL") == view.of_type("AWS::WAFv2::WebACLAssociation") == {}, view.name
    for service, api in prod.apis.items():
        [acl] = api.of_type("AWS::WAFv2::WebACL")
        [association] = api.of_type("AWS::WAFv2::WebACLAssociation").values()
        assert api.resources[acl]["Properties"]["Scope"] == "REGIONAL"
        assert api.resources[acl]["Properties"]["Name"] == prod.full_name(f"{service}-acl")
        assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl, "Arn"]}
        [stage] = api.of_type("AWS::ApiGateway::Stage")
        assert stage in {lid for _, lid in prod.resolved(api, association["Properties"]["ResourceArn"])}, service


def test_alarms_follow_the_stage(dev: Synth, prod: Synth) -> None:
    for view in dev.views:
        assert view.of_type("AWS::CloudWatch::Alarm") == {}, view.name
    for service, api in prod.apis.items():
        api.template.has_resource_properties("AWS::CloudWatch::Alarm", {
            "MetricName": "5XXError", "AlarmName": prod.full_name(f"{service}-5xx")})
        api.template.has_resource_properties("AWS::CloudWatch::Alarm", {
            "MetricName": "Latency", "ExtendedStatistic": "p95", "AlarmName": prod.full_name(f"{service}-latency-p95")})


# --- IAM and environment ----------------------------------------------------------------------------------------

def test_least_privilege_per_function(synth: Synth) -> None:
    for spec in ALL_FUNCTIONS:
        view = synth.home(spec)
        props = synth.props(spec)
        for statement in role_statements(view, synth.role(spec)):
            actions = _actions(statement)
            # The only Deny narrows the SMS "*" (see test_event_and_notification_permissions).
            assert statement["Effect"] == "Allow" or actions == ["sns:Publish"], (spec.name, statement)
            assert all(a != "*" and not a.endswith(":*") for a in actions), (spec.name, actions)
        expected = {"jwt"} if Grant.JWT_SIGNING_KEY in spec.grants else set()
        if Grant.DATABASE in spec.grants:
            expected.add(str(spec.service))
        if Grant.DATABASE_ADMIN in spec.grants:
            expected |= {"master", *(str(s) for s in CATALOGUES)}
        assert synth.secrets_read(spec) == expected, spec.name
        assert bool(synth.db_users(spec)) == bool(spec.grants & {Grant.DATABASE, Grant.DATABASE_ADMIN}), spec.name
        assert bool(props.get("VpcConfig")) == in_vpc(spec), spec.name


def test_database_isolation(synth: Synth) -> None:
    """A service's functions read their own service's credentials and connect as its role, to its database;
    only the migrate function reads the master secret (and every service's, to set their roles' passwords)."""
    [proxy] = synth.shared.of_type("AWS::RDS::DBProxy")
    readers: dict[str, set[str]] = defaultdict(set)  # secret label -> functions that may read it
    for spec in ALL_FUNCTIONS:
        view, env = synth.home(spec), synth.env(spec)
        read = synth.secrets_read(spec)
        for label in read:
            readers[label].add(spec.name)
        db_secrets = read - {"jwt"}
        db_env = {"DB_SECRET_ARN", "DB_NAME", "DB_HOST", "DB_PORT", "DB_SERVICE_SECRET_ARNS"} & set(env)
        if Grant.DATABASE in spec.grants:
            assert Grant.DATABASE_ADMIN not in spec.grants, spec.name
            assert db_secrets == {str(spec.service)}, spec.name
            assert db_env == {"DB_SECRET_ARN", "DB_NAME", "DB_HOST", "DB_PORT"}, spec.name
            assert synth.secret_label(view, env["DB_SECRET_ARN"]) == str(spec.service), spec.name
            assert env["DB_NAME"] == database_name(spec.service) == f"smartcourse_{spec.service}", spec.name
            assert synth.db_users(spec) == {role_name(spec.service)}, spec.name
        elif Grant.DATABASE_ADMIN in spec.grants:
            assert db_secrets == {"master", *(str(s) for s in CATALOGUES)}, spec.name
            assert db_env == {"DB_SECRET_ARN", "DB_HOST", "DB_PORT", "DB_SERVICE_SECRET_ARNS"}, spec.name
            assert synth.secret_label(view, env["DB_SECRET_ARN"]) == "master"
            arns = json.loads(synth.render(view, env["DB_SERVICE_SECRET_ARNS"],
                                           subst=lambda v, e: synth.secret_label(v, e)))
            assert arns == {str(s): str(s) for s in CATALOGUES}, "each service's own secret, by service"
            assert synth.db_users(spec) == {DB_ADMIN_USER}
        else:
            assert db_secrets == set() and db_env == set() and synth.db_users(spec) == set(), spec.name
            continue
        host_view, host = synth.deref(view, env["DB_HOST"])
        assert host_view is synth.shared and host == {"Fn::GetAtt": [proxy, "Endpoint"]}, spec.name
        assert env["DB_PORT"] == PROXY_PORT
    assert readers["master"] == {MIGRATE.name}
    for service in CATALOGUES:
        users = {f.name for f in CATALOGUES[service].functions if Grant.DATABASE in f.grants}
        assert readers.get(str(service), set()) == users | {MIGRATE.name}, service
    # The notification routes, served by the LMS API, still use the notification database.
    for spec in api_functions(Service.LMS):
        if spec.service is Service.NOTIFICATION and Grant.DATABASE in spec.grants:
            assert synth.env(spec)["DB_NAME"] == "smartcourse_notification", spec.name


def test_database_secrets_are_rotation_ready_and_registered_with_the_proxy(synth: Synth) -> None:
    shared = synth.shared
    labels = synth.secret_labels()
    assert sorted(labels.values()) == sorted(["jwt", "master", *(str(s) for s in CATALOGUES)])
    [cluster] = shared.of_type("AWS::RDS::DBCluster")
    attachments = {res["Properties"]["SecretId"]["Ref"]: res["Properties"]
                   for res in shared.of_type("AWS::SecretsManager::SecretTargetAttachment").values()}
    by_label = {label: lid for lid, label in labels.items()}
    for service in CATALOGUES:
        lid = by_label[str(service)]
        props = shared.resources[lid]["Properties"]
        assert props["Name"] == synth.full_name(f"{service}-db-credentials")
        # RDS's JSON shape with the master secret's ARN: what the alternating-users rotation needs.
        generated = props["GenerateSecretString"]
        template = json.loads(synth.render(shared, generated["SecretStringTemplate"],
                                           subst=lambda v, e: synth.secret_label(v, e)))
        assert template == {"username": role_name(service), "masterarn": "master"}, service
        assert generated["GenerateStringKey"] == "password"
        # Attached to the cluster (host, port, engine for the rotation function).
        assert attachments[lid] == {"SecretId": {"Ref": lid}, "TargetId": {"Ref": cluster},
                                    "TargetType": "AWS::RDS::DBCluster"}, service
    assert by_label["master"] in attachments
    # The proxy authenticates with the master and every service's credentials, and may read each of them.
    [proxy] = shared.of_type("AWS::RDS::DBProxy").values()
    auth = proxy["Properties"]["Auth"]
    assert all(a["AuthScheme"] == "SECRETS" for a in auth)
    registered = [synth.secret_label(shared, a["SecretArn"]) for a in auth]
    assert sorted(registered) == sorted(["master", *(str(s) for s in CATALOGUES)])
    proxy_role = proxy["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    readable = {synth.secret_label(shared, target) for s in role_statements(shared, proxy_role)
                if "secretsmanager:GetSecretValue" in _actions(s) for target in _targets(s)}
    assert readable == set(registered)


def test_register_cannot_read_the_jwt_key_but_login_can(synth: Synth) -> None:
    assert "jwt" not in synth.secrets_read(services.function("lms-auth-register"))
    assert "jwt" in synth.secrets_read(services.function("lms-auth-login"))
    assert "jwt" in synth.secrets_read(AUTHORIZER)


def test_environment(synth: Synth) -> None:
    config = synth.config
    for spec in ALL_FUNCTIONS:
        env = synth.env(spec)
        assert env["STAGE"] == synth.stage
        assert env["SERVICE_NAME"] == str(spec.service)
        assert env["SMARTCOURSE_FUNCTION"] == spec.name
        assert env["POWERTOOLS_SERVICE_NAME"] == str(spec.service)
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "SmartCourse"
        assert env["LOG_LEVEL"] and env["JWT_ISSUER"]
        assert int(env["ACCESS_TOKEN_TTL_SECONDS"]) > 0
        assert env["APP_BASE_URL"] == config.app_base_url
        assert env["PUBLIC_BASE_URL"] == config.public_base_url
        assert env["ANALYTICS_BASE_URL"] == config.analytics_base_url
        assert ("JWT_SECRET_ARN" in env) == (Grant.JWT_SIGNING_KEY in spec.grants), spec.name
        if "JWT_SECRET_ARN" in env:
            assert synth.secret_label(synth.home(spec), env["JWT_SECRET_ARN"]) == "jwt"


# --- logging and lifecycle --------------------------------------------------------------------------------------

def test_log_retention(synth: Synth) -> None:
    for view in synth.views:
        groups = view.of_type("AWS::Logs::LogGroup")
        assert groups, view.name
        for lid, group in groups.items():
            assert group["Properties"].get("RetentionInDays") == RETENTION_DAYS[synth.stage], (view.name, lid)
    for view in synth.stacks:
        for name, lid in functions_by_name(view).items():
            log_group = view.resources[lid]["Properties"]["LoggingConfig"]["LogGroup"]
            group = view.resources[log_group["Ref"]]
            assert group["Type"] == "AWS::Logs::LogGroup"
            assert group["Properties"]["LogGroupName"] == f"/aws/lambda/{synth.full_name(name)}"


def test_prod_is_protected(prod: Synth) -> None:
    prod.shared.template.has_resource("AWS::RDS::DBCluster", {
        "Properties": Match.object_like({"DeletionProtection": True, "StorageEncrypted": True,
                                         "Engine": "aurora-postgresql",
                                         "EngineVersion": Match.string_like_regexp(r"^16\.")}),
        "DeletionPolicy": "Retain",
    })
    secrets = prod.shared.of_type("AWS::SecretsManager::Secret")
    assert len(secrets) == 2 + len(CATALOGUES)  # JWT key, master and one per service
    for secret in secrets.values():
        assert secret["DeletionPolicy"] == "Retain"
    for view in prod.views:
        for lid, group in view.of_type("AWS::Logs::LogGroup").items():
            assert group["DeletionPolicy"] == "Retain", (view.name, lid)
        for lid, queue in view.of_type("AWS::SQS::Queue").items():
            assert queue["DeletionPolicy"] == "Retain", (view.name, lid)


def test_dev_is_disposable(dev: Synth) -> None:
    dev.shared.template.has_resource("AWS::RDS::DBCluster", {
        "Properties": Match.object_like({"DeletionProtection": False}), "DeletionPolicy": "Delete",
    })
    for secret in dev.shared.of_type("AWS::SecretsManager::Secret").values():
        assert secret["DeletionPolicy"] == "Delete"


def test_shared_infrastructure(synth: Synth) -> None:
    shared = synth.shared.template
    [jwt] = [lid for lid, label in synth.secret_labels().items() if label == "jwt"]
    assert synth.shared.resources[jwt]["Properties"]["GenerateSecretString"] == {
        "PasswordLength": 64, "ExcludePunctuation": True, "IncludeSpace": False,
    }
    shared.has_resource_properties("AWS::RDS::DBCluster", {
        "ServerlessV2ScalingConfiguration": {"MinCapacity": Match.any_value(), "MaxCapacity": Match.any_value()},
        "DatabaseName": "smartcourse_lms",
    })
    shared.has_resource_properties("AWS::RDS::DBProxy", {"RequireTLS": True, "EngineFamily": "POSTGRESQL"})
    shared.resource_count_is("AWS::EC2::NatGateway", 1 if synth.stage == "dev" else 2)
    shared.resource_count_is("AWS::EC2::FlowLog", 1)


def test_platform_functions_are_in_the_shared_stack(synth: Synth) -> None:
    assert set(functions_by_name(synth.shared)) == {MIGRATE.name, KAFKA_TOPICS.name}


def test_migrations_run_on_deploy(synth: Synth) -> None:
    """The shared stack runs the migrate function once the proxy (with every service's credentials) exists,
    and again whenever the function changes; the service stacks deploy after it (test_deploy_order), so new
    code never serves against an old schema."""
    shared = synth.shared
    [(lid, trigger)] = shared.of_type("Custom::Trigger").items()
    props = trigger["Properties"]
    assert synth.function_key(shared, props["HandlerArn"]) == MIGRATE.name
    assert props["ExecuteOnHandlerChange"] is True
    assert props["InvocationType"] == "RequestResponse"
    assert int(props["Timeout"]) >= MIGRATE.timeout_seconds * 1000
    [proxy] = shared.of_type("AWS::RDS::DBProxy")
    [target_group] = shared.of_type("AWS::RDS::DBProxyTargetGroup")
    assert {proxy, target_group} <= set(trigger.get("DependsOn", [])), lid
    for view in synth.services.values():
        assert shared.stack.stack_name in dependencies_closure(view.stack), view.name
        assert view.of_type("Custom::Trigger") == {}, view.name


# --- S3 buckets (content, certificates) -------------------------------------------------------------------------

BUCKET_ENV = {Grant.CONTENT_BUCKET: "CONTENT_BUCKET", Grant.CERTIFICATE_BUCKET: "CERTIFICATE_BUCKET",
              Grant.CONTENT_READ: "CONTENT_BUCKET", Grant.ANALYTICS_REPORTS_BUCKET: "REPORTS_BUCKET",
              Grant.ANALYTICS_REPORTS_READ: "REPORTS_BUCKET",
              Grant.EVENT_ARCHIVE: "ARCHIVE_BUCKET", Grant.EVENT_ARCHIVE_READ: "ARCHIVE_BUCKET"}
# The analytics stack's own buckets (reports, event archive): tests/infrastructure/test_infra_analytics.py.
ANALYTICS_BUCKET_GRANTS = frozenset({Grant.ANALYTICS_REPORTS_BUCKET, Grant.ANALYTICS_REPORTS_READ, Grant.EVENT_ARCHIVE,
                                     Grant.EVENT_ARCHIVE_READ})


def buckets_by_role(view: View) -> dict[str, str]:
    """"content" / "certificates" / "logs" -> the bucket's logical id (the storage construct's ids)."""
    out = {}
    for lid in view.of_type("AWS::S3::Bucket"):
        for prefix, role in (("StorageContent", "content"), ("StorageCertificates", "certificates"),
                             ("StorageAccessLogs", "logs")):
            if lid.startswith(prefix):
                out[role] = lid
    assert len(out) == 3 == len(view.of_type("AWS::S3::Bucket"))
    return out


def bucket_policy(view: View, bucket_lid: str) -> list[dict[str, Any]]:
    [policy] = [r["Properties"]["PolicyDocument"]["Statement"] for r in view.of_type("AWS::S3::BucketPolicy").values()
                if r["Properties"]["Bucket"] == {"Ref": bucket_lid}]
    return list(policy)


def test_buckets_are_the_lms_and_analytics_stacks(synth: Synth) -> None:
    for view in synth.views:
        if view not in (synth.services[Service.LMS], synth.services[Service.ANALYTICS]):
            assert view.of_type("AWS::S3::Bucket") == {}, view.name


def test_buckets_are_private_encrypted_and_tls_only(synth: Synth) -> None:
    view = synth.services[Service.LMS]
    for lid in buckets_by_role(view).values():
        props = view.resources[lid]["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, lid
        [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms"), lid
        assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}, lid
        deny_plain_http = [s for s in bucket_policy(view, lid) if s["Effect"] == "Deny"
                           and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
        assert deny_plain_http and deny_plain_http[0]["Action"] == "s3:*", lid


def test_content_bucket_versioning_cors_and_lifecycle(synth: Synth) -> None:
    view = synth.services[Service.LMS]
    ids = buckets_by_role(view)
    content = view.resources[ids["content"]]["Properties"]
    assert content["VersioningConfiguration"] == {"Status": "Enabled"}
    [cors] = content["CorsConfiguration"]["CorsRules"]
    assert set(cors["AllowedMethods"]) == {"PUT", "GET", "HEAD"}
    assert "Content-Type" in cors["AllowedHeaders"]
    assert tuple(cors["AllowedOrigins"]) == synth.config.content_cors_origins
    assert ("*" in cors["AllowedOrigins"]) == (synth.stage == "dev")
    assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays", 0) > 0
               for r in content["LifecycleConfiguration"]["Rules"])
    assert "CorsConfiguration" not in view.resources[ids["certificates"]]["Properties"]
    for role in ("content", "certificates"):
        logging = view.resources[ids[role]]["Properties"]["LoggingConfiguration"]
        assert logging["DestinationBucketName"] == {"Ref": ids["logs"]}, role


def test_bucket_lifecycle_follows_the_stage(dev: Synth, prod: Synth) -> None:
    dev_lms, prod_lms = dev.services[Service.LMS], prod.services[Service.LMS]
    for lid in buckets_by_role(dev_lms).values():
        assert dev_lms.resources[lid]["DeletionPolicy"] == "Delete"
    assert len(dev_lms.of_type("Custom::S3AutoDeleteObjects")) == 3
    for lid in buckets_by_role(prod_lms).values():
        assert prod_lms.resources[lid]["DeletionPolicy"] == "Retain"
    prod_lms.template.resource_count_is("Custom::S3AutoDeleteObjects", 0)


def _s3_statements(synth: Synth, spec: Function) -> list[dict[str, Any]]:
    return [s for s in role_statements(synth.home(spec), synth.role(spec))
            if any(a.startswith("s3:") for a in _actions(s))]


def test_no_function_touches_a_bucket_without_its_grant(synth: Synth) -> None:
    for spec in ALL_FUNCTIONS:
        env = synth.env(spec)
        for variable in set(BUCKET_ENV.values()):
            granted = {g for g, v in BUCKET_ENV.items() if v == variable}
            assert (variable in env) == bool(granted & spec.grants), spec.name
        if not spec.grants & set(BUCKET_ENV):
            assert _s3_statements(synth, spec) == [], spec.name
        elif Grant.CONTENT_READ in spec.grants:
            # The AI's indexing reads articles: GetObject under courses/ of the bucket the LMS names, nothing else.
            assert spec.service is Service.AI, spec.name
            actions = {a for s in _s3_statements(synth, spec) for a in _actions(s)}
            assert actions == {"s3:GetObject", "s3:ListBucket"}, spec.name
        elif spec.grants & ANALYTICS_BUCKET_GRANTS:
            assert spec.service is Service.ANALYTICS, spec.name
        else:
            assert spec.service is Service.LMS, spec.name


def test_bucket_grants_are_prefix_scoped(probe: Synth) -> None:
    """A function with both bucket grants gets object access under its prefixes only, and nag stays clean."""
    view = probe.services[Service.LMS]
    ids = buckets_by_role(view)
    env = probe.env(STORAGE_PROBE)
    assert env["CONTENT_BUCKET"] == {"Ref": ids["content"]}
    assert env["CERTIFICATE_BUCKET"] == {"Ref": ids["certificates"]}

    granted: set[tuple[str, str, str]] = set()  # (bucket logical id, "" or object ARN suffix, action)
    for statement in _s3_statements(probe, STORAGE_PROBE):
        for target in _targets(statement):
            bucket, suffix = (target["Fn::GetAtt"][0], "") if "Fn::GetAtt" in target else (
                target["Fn::Join"][1][0]["Fn::GetAtt"][0], target["Fn::Join"][1][1])
            granted |= {(bucket, suffix, action) for action in _actions(statement)}
    content, certificates = ids["content"], ids["certificates"]
    assert granted == {
        *((content, "/courses/*", a) for a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")),
        *((certificates, "/certificates/*", a) for a in ("s3:GetObject", "s3:PutObject")),
        (content, "", "s3:ListBucket"), (certificates, "", "s3:ListBucket"),
    }
    findings = _nag_report(probe.built.lms)
    assert findings == [], "\n".join(findings)


# --- event backbone and notifications ---------------------------------------------------------------------------

CLUSTER = "cluster"
KAFKA_ESM_ENI_ACTIONS = {"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
                         "ec2:DeleteNetworkInterface", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"}
EVENT_ACTION_PREFIXES = ("kafka:", "kafka-cluster:", "sqs:", "ses:", "sns:", "lambda:")


def consumers() -> tuple[Function, ...]:
    return tuple(f for f in ALL_FUNCTIONS if f.kafka is not None)


def declared_topics(spec: Function) -> set[str]:
    """The topics carrying the event types the consumer declares (from the contracts' models)."""
    assert spec.kafka is not None
    if spec.kafka.every_topic:  # the event archive
        return set(ALL_TOPICS)
    return {topic_for(event_type) for event_type in spec.kafka.event_types}


def cluster_lid(synth: Synth) -> str:
    [lid] = synth.shared.of_type("AWS::MSK::ServerlessCluster")
    return lid


def resource_key(synth: Synth, view: View, expr: Any) -> str:
    """A readable name for an IAM resource / ARN expression: ``cluster``, ``topic:<name>``, ``group:<name>``,
    ``queue:<QueueName>``, ``function:<FunctionName>``, ``ses:<identity>``, a literal, or ``*``."""
    if isinstance(expr, str):
        return expr
    if "Fn::Join" in expr:
        def identity(v: View, e: Any) -> str | None:
            found = synth.resolve(v, e)
            if found and found[0].resources[found[1]]["Type"] == "AWS::SES::EmailIdentity":
                return str(found[0].resources[found[1]]["Properties"]["EmailIdentity"])
            return None

        text = synth.render(view, expr, subst=identity)
        match = re.match(r"^\{\}:(topic|group)/([^/]+)/\{\}/(.+)$", text)
        if match:
            # Both placeholders are parts of the stage's cluster ARN.
            assert {(v.name, lid) for v, lid in synth.resolved(view, expr)} == {(synth.shared.name, cluster_lid(synth))}
            assert match.group(2) == synth.full_name("events")
            return f"{match.group(1)}:{match.group(3)}"
        for pattern, kind in ((r"^arn:\{\}:lambda:\{\}:\{\}:function:(.+)$", "function"),
                              (r"^arn:\{\}:ses:\{\}:\{\}:identity/(.+)$", "ses")):
            match = re.match(pattern, text)
            if match:
                return f"{kind}:{match.group(1)}"
        return text
    found = synth.resolve(view, expr)
    assert found is not None, expr
    found_view, lid = found
    res = found_view.resources[lid]
    if res["Type"] == "AWS::SQS::Queue":
        return f"queue:{res['Properties']['QueueName']}"
    if res["Type"] == "AWS::Lambda::Function":
        return f"function:{res['Properties']['FunctionName']}"
    if res["Type"] == "AWS::MSK::ServerlessCluster":
        assert found_view is synth.shared
        return CLUSTER
    return f"{res['Type']}:{lid}"


def permissions(synth: Synth, spec: Function,
                prefixes: tuple[str, ...] = EVENT_ACTION_PREFIXES) -> set[tuple[str, str, str]]:
    """(effect, action, resource key) of every statement of the role, for actions starting with ``prefixes``."""
    view = synth.home(spec)
    out = set()
    for statement in role_statements(view, synth.role(spec)):
        for action in _actions(statement):
            if action.startswith(prefixes):
                out |= {(statement["Effect"], action, resource_key(synth, view, t)) for t in _targets(statement)}
    return out


def expected_permissions(spec: Function, stage: str) -> set[tuple[str, str, str]]:
    """Exactly what the function's grants and triggers call for (actions of EVENT_ACTION_PREFIXES)."""
    name = f"smartcourse-{stage}-{spec.name}"
    out: set[tuple[str, str, str]] = set()

    def allow(actions: tuple[str, ...], *keys: str) -> None:
        out.update(("Allow", a, k) for a in actions for k in keys)

    if Grant.KAFKA_PRODUCE in spec.grants:
        allow(("kafka-cluster:Connect", "kafka-cluster:DescribeCluster"), CLUSTER)
        allow(("kafka-cluster:WriteData", "kafka-cluster:DescribeTopic"), *(f"topic:{t}" for t in ALL_TOPICS))
    if Grant.KAFKA_TOPICS in spec.grants:
        allow(("kafka-cluster:Connect", "kafka-cluster:DescribeCluster"), CLUSTER)
        allow(("kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic"), *(f"topic:{t}" for t in ALL_TOPICS))
    if spec.kafka is not None:
        topics = sorted(declared_topics(spec))
        allow(("kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration",
               "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"), CLUSTER)
        allow(("kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"), *(f"topic:{t}" for t in topics))
        allow(("kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"), *(f"group:{name}.{t}" for t in topics))
        allow(("sqs:SendMessage",), f"queue:{name}-dlq")
    if Grant.OUTBOX_NUDGE in spec.grants:
        publisher = outbox_publisher(spec.service)
        assert publisher is not None, spec.name
        allow(("lambda:InvokeFunction",), f"function:smartcourse-{stage}-{publisher.name}")
    if Grant.NOTIFICATION_QUEUE in spec.grants:
        allow(("sqs:SendMessage",), f"queue:smartcourse-{stage}-{SEND_QUEUE}")
    if Grant.EMAIL in spec.grants:
        allow(("ses:SendEmail", "ses:SendRawEmail"), f"ses:{stage_config(stage).mail_identity}")
    if Grant.SMS in spec.grants:
        allow(("sns:Publish", "sns:CheckIfPhoneNumberIsOptedOut"), "*")
        out.add(("Deny", "sns:Publish", "arn:{}:sns:*:*:*"))
    if Grant.ISSUE_ONE_TIME_TOKEN in spec.grants:
        allow(("lambda:InvokeFunction",), f"function:smartcourse-{stage}-lms-auth-issue-one-time-token")
    if Grant.SAVE_QUIZ in spec.grants:
        allow(("lambda:InvokeFunction",), f"function:smartcourse-{stage}-lms-assets-save-quiz")
    if Grant.AI_INDEX_QUEUE in spec.grants:
        allow(("sqs:SendMessage",), f"queue:smartcourse-{stage}-{INDEX_QUEUE}")
    if Grant.ANALYTICS_REPORT_QUEUE in spec.grants:
        allow(("sqs:SendMessage",), f"queue:smartcourse-{stage}-{REPORT_QUEUE}")
    if spec.sqs is not None:
        allow(("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
               "sqs:GetQueueUrl"),
              f"queue:smartcourse-{stage}-{spec.sqs.queue}")
    return out


def test_event_and_notification_permissions(synth: Synth) -> None:
    """Every function gets exactly the Kafka/SQS/SES/SNS/Lambda permissions its grants and triggers call for."""
    for spec in ALL_FUNCTIONS:
        assert permissions(synth, spec) == expected_permissions(spec, synth.stage), spec.name


# Functions that emit events without a route: the AI's index worker ends a run with processing_completed/failed;
# the analytics report builder emits report.ready.
EMITTING_WORKERS = frozenset({"ai-index-asset", "analytics-build-report"})
# Services whose routes write no events (the AI's routes record usage and settings only).
ROUTES_WITHOUT_EVENTS = frozenset({Service.AI})
# Writing routes that emit nothing themselves: a report request is queued; the builder emits report.ready.
WRITING_ROUTES_WITHOUT_EVENTS = frozenset({"analytics-reports-create"})


def test_outbox_nudge_goes_to_every_writing_route_of_a_publishing_service() -> None:
    """A route that writes events nudges its service's outbox publisher right after the commit, as does a worker
    that emits; a service without a publisher (it writes no events) never nudges."""
    assert any(outbox_publisher(s) is not None for s in CATALOGUES)
    for spec in ALL_FUNCTIONS:
        writes = (bool(spec.routes) and any(r.method != "GET" for r in spec.routes)
                  and spec.service not in ROUTES_WITHOUT_EVENTS and spec.name not in WRITING_ROUTES_WITHOUT_EVENTS)
        publishes = outbox_publisher(spec.service) is not None
        emits = writes or spec.name in EMITTING_WORKERS
        assert (Grant.OUTBOX_NUDGE in spec.grants) == (emits and publishes), spec.name


def test_event_environment(synth: Synth) -> None:
    stage, config = synth.stage, synth.config
    [brokers] = synth.shared.of_type("Custom::AWS")
    for spec in ALL_FUNCTIONS:
        view, env = synth.home(spec), synth.env(spec)
        kafka = bool(spec.grants & {Grant.KAFKA_PRODUCE, Grant.KAFKA_TOPICS}) or spec.kafka is not None
        assert ("KAFKA_BOOTSTRAP_SERVERS" in env) == kafka, spec.name
        if kafka:
            assert env["KAFKA_AUTH"] == "iam"
            brokers_view, value = synth.deref(view, env["KAFKA_BOOTSTRAP_SERVERS"])
            assert brokers_view is synth.shared, spec.name
            assert value == {"Fn::GetAtt": [brokers, "BootstrapBrokerStringSaslIam"]}, spec.name
        publisher = outbox_publisher(spec.service)
        expected = {
            "OUTBOX_PUBLISHER_FUNCTION": (Grant.OUTBOX_NUDGE in spec.grants,
                                          synth.full_name(publisher.name) if publisher else None),
            "TOKEN_ISSUER_FUNCTION": (Grant.ISSUE_ONE_TIME_TOKEN in spec.grants,
                                      f"smartcourse-{stage}-lms-auth-issue-one-time-token"),
            "MAIL_FROM": (Grant.EMAIL in spec.grants, config.mail_from),
        }
        for variable, (wanted, value) in expected.items():
            assert env.get(variable) == (value if wanted else None), (spec.name, variable)
        if spec.kafka is not None:
            assert resource_key(synth, view, env["CONSUMER_DLQ_URL"]) == f"queue:{synth.full_name(spec.name)}-dlq"
        else:
            assert "CONSUMER_DLQ_URL" not in env
        if Grant.NOTIFICATION_QUEUE in spec.grants:
            assert resource_key(synth, view, env["NOTIFICATION_QUEUE_URL"]) == f"queue:{synth.full_name(SEND_QUEUE)}"
        else:
            assert "NOTIFICATION_QUEUE_URL" not in env
        # An SQS-triggered function knows its queue's last delivery (the redrive maxReceiveCount).
        # And its own queue, to make a message visible again sooner than the visibility timeout.
        if spec.sqs is not None:
            assert env.get("TRIGGER_QUEUE_MAX_RECEIVES") == str(MAX_RECEIVE_COUNT), spec.name
            assert resource_key(synth, view, env["TRIGGER_QUEUE_URL"]) == (
                f"queue:{synth.full_name(spec.sqs.queue)}"), spec.name
        else:
            assert "TRIGGER_QUEUE_MAX_RECEIVES" not in env and "TRIGGER_QUEUE_URL" not in env


def test_event_cluster(synth: Synth) -> None:
    shared = synth.shared.resources
    props = shared[cluster_lid(synth)]["Properties"]
    assert props["ClusterName"] == synth.full_name("events")
    assert props["ClientAuthentication"] == {"Sasl": {"Iam": {"Enabled": True}}}
    [vpc_config] = props["VpcConfigs"]
    app_subnets = {lid for lid, r in shared.items() if r["Type"] == "AWS::EC2::Subnet" and any(
        t == {"Key": "aws-cdk:subnet-name", "Value": "app"} for t in r["Properties"].get("Tags", []))}
    assert {s["Ref"] for s in vpc_config["SubnetIds"]} == app_subnets and len(app_subnets) == 2
    [sg] = [s["Fn::GetAtt"][0] for s in vpc_config["SecurityGroups"]]
    [function_sg] = [lid for lid, r in shared.items() if r["Type"] == "AWS::EC2::SecurityGroup"
                     and r["Properties"]["GroupDescription"].startswith("SmartCourse Lambda functions")]
    ingress = {(r["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0], r["Properties"]["FromPort"])
               for r in shared.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"
               and r["Properties"]["GroupId"] == {"Fn::GetAtt": [sg, "GroupId"]}}
    assert ingress == {(function_sg, 9098), (sg, 9098)}
    [brokers] = [r["Properties"] for r in shared.values() if r["Type"] == "Custom::AWS"]
    assert "getBootstrapBrokers" in json.dumps(brokers["Create"]) and "Kafka" in json.dumps(brokers["Create"])


def test_topics_custom_resource(synth: Synth) -> None:
    shared = synth.shared
    [res] = shared.of_type("Custom::KafkaTopics").values()
    assert res["Properties"]["Topics"] == [{"Name": t, "Partitions": "6"} for t in sorted(ALL_TOPICS)]
    # Provider framework: its onEvent function invokes platform-kafka-topics.
    [provider] = [lid for _, lid in synth.resolved(shared, res["Properties"]["ServiceToken"])]
    env = shared.resources[provider]["Properties"]["Environment"]["Variables"]
    assert synth.function_key(shared, env["USER_ON_EVENT_FUNCTION_ARN"]) == KAFKA_TOPICS.name
    # Every topic a consumer subscribes to is created, before any mapping exists: the stacks with mappings
    # deploy after the shared stack.
    assert set().union(*(declared_topics(f) for f in consumers())) <= set(ALL_TOPICS)
    for view in synth.views:
        if view is not shared:
            assert view.of_type("Custom::KafkaTopics") == {}, view.name
            mappings = [m for m in view.of_type("AWS::Lambda::EventSourceMapping").values()
                        if "Topics" in m["Properties"]]
            if mappings:
                assert shared.stack.stack_name in dependencies_closure(view.stack), view.name


def test_kafka_triggers(synth: Synth) -> None:
    """One MSK event source mapping per topic of the consumer's declared event types, with its own consumer
    group, and the ESM's ENI permissions."""
    groups = []
    for view in synth.views:
        mappings = [r["Properties"] for r in view.of_type("AWS::Lambda::EventSourceMapping").values()
                    if "Topics" in r["Properties"]]
        assert all(len(m["Topics"]) == 1 for m in mappings)
        found = {(str(synth.function_key(view, m["FunctionName"])), str(m["Topics"][0])): m for m in mappings}
        assert len(found) == len(mappings)
        wanted = {(synth.invoked(f), t): f for f in consumers() if synth.home(f) is view for t in declared_topics(f)}
        assert set(found) == set(wanted), view.name
        for (key, topic), props in found.items():
            spec = wanted[(key, topic)]
            name = spec.name
            assert spec.kafka is not None
            assert resource_key(synth, view, props["EventSourceArn"]) == CLUSTER
            assert props["StartingPosition"] == spec.kafka.starting_position
            assert props["BatchSize"] == spec.kafka.batch_size
            group = f"{synth.full_name(name)}.{topic}"
            assert props["AmazonManagedKafkaEventSourceConfig"] == {"ConsumerGroupId": group}
            groups.append(group)
            eni = {a for s in role_statements(view, synth.role(spec)) if s["Resource"] == "*" for a in _actions(s)}
            assert eni >= KAFKA_ESM_ENI_ACTIONS, name
    assert groups and len(groups) == len(set(groups)), "Lambda needs a distinct consumer group per mapping"
    # The declaration is the one source: the stacks' topics are those of the declared event types.
    for spec in consumers():
        assert spec.kafka is not None and bool(spec.kafka.event_types) != spec.kafka.every_topic, spec.name
        assert set(spec.kafka.topics) == declared_topics(spec), spec.name


def _queues(view: View) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["QueueName"]: r for r in view.of_type("AWS::SQS::Queue").values()}


def _queue_lid(view: View, name: str) -> str:
    [lid] = [lid for lid, r in view.of_type("AWS::SQS::Queue").items() if r["Properties"]["QueueName"] == name]
    return lid


def _denies_plain_http(view: View, queue_lid: str) -> bool:
    for res in view.of_type("AWS::SQS::QueuePolicy").values():
        if {"Ref": queue_lid} in res["Properties"]["Queues"]:
            return any(s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                       for s in res["Properties"]["PolicyDocument"]["Statement"])
    return False


def test_queues_are_encrypted_tls_only_and_dead_letters_kept_14_days(synth: Synth) -> None:
    dead_letters = {synth.full_name(f"{f.name}-dlq"): synth.home(f).name for f in consumers()} | {
        synth.full_name(f"{f.sqs.queue}-dlq"): synth.home(f).name for f in ALL_FUNCTIONS if f.sqs}
    seen = {}
    for view in synth.views:
        for name, queue in _queues(view).items():
            props = queue["Properties"]
            assert props["SqsManagedSseEnabled"] is True, name
            assert _denies_plain_http(view, _queue_lid(view, name)), name
            if name.endswith("-dlq"):
                assert props["MessageRetentionPeriod"] == 14 * 24 * 3600, name
                seen[name] = view.name
    assert seen == dead_letters, "each dead-letter queue in its consumer's stack"


def test_sqs_trigger(synth: Synth) -> None:
    workers = [f for f in ALL_FUNCTIONS if f.sqs]
    assert workers
    for spec in workers:
        assert spec.sqs is not None
        view = synth.home(spec)
        [mapping] = [r["Properties"] for r in view.of_type("AWS::Lambda::EventSourceMapping").values()
                     if synth.function_key(view, r["Properties"]["FunctionName"]) == synth.invoked(spec)]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BatchSize"] == spec.sqs.batch_size
        queue_name = synth.full_name(spec.sqs.queue)
        assert resource_key(synth, view, mapping["EventSourceArn"]) == f"queue:{queue_name}"
        props = _queues(view)[queue_name]["Properties"]
        assert props["VisibilityTimeout"] >= 6 * spec.timeout_seconds
        redrive = props["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == MAX_RECEIVE_COUNT == 5
        assert resource_key(synth, view, redrive["deadLetterTargetArn"]) == f"queue:{queue_name}-dlq"


def test_schedules(synth: Synth) -> None:
    """Each scheduled function: an EventBridge Scheduler schedule whose role may invoke that function only."""
    for view in synth.views:
        schedules = [r["Properties"] for r in view.of_type("AWS::Scheduler::Schedule").values()]
        assert {synth.function_key(view, s["Target"]["Arn"]): s["ScheduleExpression"] for s in schedules} == {
            synth.invoked(f): f.schedule.expression for f in ALL_FUNCTIONS if f.schedule and synth.home(f) is view}
        for props in schedules:
            target = props["Target"]
            assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
            assert props["State"] == "ENABLED"
            assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
            role = view.resources[target["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
            [trust] = role["AssumeRolePolicyDocument"]["Statement"]
            assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
            assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
            [statement] = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
            assert statement["Effect"] == "Allow" and statement["Action"] == "lambda:InvokeFunction"
            assert statement["Resource"] == target["Arn"]


def test_the_nudged_outbox_publisher_is_capped_and_drops_stale_nudges(synth: Synth) -> None:
    """Every commit with events nudges the publisher: its concurrency is its own (whatever the stage), and an
    asynchronous nudge is neither retried nor kept past a minute (the schedule is the backstop)."""
    publishers = {s: p for s in CATALOGUES if (p := outbox_publisher(s)) is not None}
    assert publishers
    for service, view in synth.services.items():
        configs = [r["Properties"] for r in view.of_type("AWS::Lambda::EventInvokeConfig").values()]
        publisher = publishers.get(service)
        if publisher is None:
            assert configs == [], service
            continue
        assert publisher.reserved_concurrency is not None and 0 < publisher.reserved_concurrency <= 2
        _, function_id = synth.function(publisher)
        assert synth.props(publisher)["ReservedConcurrentExecutions"] == publisher.reserved_concurrency
        [config] = configs
        assert config["FunctionName"] == {"Ref": function_id}
        assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (0, 60)


def test_ses_identity(synth: Synth) -> None:
    config = synth.config
    for view in synth.views:
        identities = view.of_type("AWS::SES::EmailIdentity")
        if view is synth.services[Service.NOTIFICATION]:
            assert [r["Properties"]["EmailIdentity"] for r in identities.values()] == [config.mail_identity]
        else:
            assert identities == {}, view.name
    assert config.mail_from == config.mail_identity or config.mail_from.endswith("@" + config.mail_identity)


def test_event_alarms_follow_the_stage(dev: Synth, prod: Synth) -> None:
    # dev has no alarm at all (test_alarms_follow_the_stage).
    for service, view in prod.services.items():
        if outbox_publisher(service) is None:
            continue
        view.template.has_resource_properties("AWS::CloudWatch::Alarm", {
            "Namespace": "SmartCourse", "MetricName": "OutboxRowsFailed",
            "Dimensions": [{"Name": "service", "Value": str(service)}], "Statistic": "Sum",
            "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
        })
        # An outage parks nothing (it uses up no attempts): its own alarm says events wait on the broker.
        view.template.has_resource_properties("AWS::CloudWatch::Alarm", {
            "Namespace": "SmartCourse", "MetricName": "OutboxBrokerUnavailable",
            "Dimensions": [{"Name": "service", "Value": str(service)}], "Statistic": "Sum", "Period": 300,
            "Threshold": 3, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        })
    alarmed, dead_letters = set(), set()
    for view in prod.views:
        dead_letters |= {n for n in _queues(view) if n.endswith("-dlq")}
        for res in view.of_type("AWS::CloudWatch::Alarm").values():
            props = res["Properties"]
            if props.get("MetricName") == "ApproximateNumberOfMessagesVisible":
                assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
                [dimension] = props["Dimensions"]
                lid = dimension["Value"]["Fn::GetAtt"][0]
                alarmed.add(view.resources[lid]["Properties"]["QueueName"])
    assert dead_letters and alarmed == dead_letters
