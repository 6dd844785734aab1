"""CDK assertions on the synthesized dev and prod templates (bundling skipped).

Routes, authorizer, IAM, logging and lifecycle are checked against the function
catalogue, the single source of truth, so a catalogue change is covered
without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from smartcourse import catalogue
from smartcourse.catalogue import Grant

from stacks.app_builder import SmartCourseApp, build, cdk_json_context

pytestmark = pytest.mark.infrastructure

SERVICE = catalogue.Service.LMS
RETENTION_DAYS = {"dev": 7, "prod": 365}


@dataclass
class Synth:
    stage: str
    built: SmartCourseApp
    lms: Template
    shared: Template
    notification: Template

    @property
    def lms_resources(self) -> dict[str, Any]:
        return dict(self.lms.to_json()["Resources"])

    @property
    def notification_resources(self) -> dict[str, Any]:
        return dict(self.notification.to_json()["Resources"])

    @property
    def service_stacks(self) -> list[tuple[Template, dict[str, Any], tuple[catalogue.Function, ...]]]:
        """(template, resources, the catalogue functions it deploys) of each service stack."""
        return [(self.lms, self.lms_resources, lms_catalogue()),
                (self.notification, self.notification_resources, notification_catalogue())]

    @property
    def shared_json(self) -> dict[str, Any]:
        return dict(self.shared.to_json())


def _synth(stage: str) -> Synth:
    app = App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": [], "stage": stage})
    built = build(app)
    return Synth(stage, built, Template.from_stack(built.lms), Template.from_stack(built.shared),
                 Template.from_stack(built.notification))


@pytest.fixture(scope="module")
def dev() -> Synth:
    return _synth("dev")


@pytest.fixture(scope="module")
def prod() -> Synth:
    return _synth("prod")


@pytest.fixture(scope="module", params=["dev", "prod"])
def synth(request: pytest.FixtureRequest, dev: Synth, prod: Synth) -> Synth:
    return dev if request.param == "dev" else prod


# --- template walking -------------------------------------------------------------------------------------------

def _refs(expr: Any) -> Iterator[str]:
    """Logical ids an expression references (Ref / Fn::GetAtt), depth first."""
    if isinstance(expr, dict):
        if "Ref" in expr and isinstance(expr["Ref"], str):
            yield expr["Ref"]
        if "Fn::GetAtt" in expr:
            yield expr["Fn::GetAtt"][0]
        for value in expr.values():
            yield from _refs(value)
    elif isinstance(expr, list):
        for value in expr:
            yield from _refs(value)


def _imports(expr: Any) -> Iterator[str]:
    if isinstance(expr, dict):
        if isinstance(expr.get("Fn::ImportValue"), str):
            yield expr["Fn::ImportValue"]
        for value in expr.values():
            yield from _imports(value)
    elif isinstance(expr, list):
        for value in expr:
            yield from _imports(value)


def functions_by_name(resources: dict[str, Any]) -> dict[str, str]:
    """Catalogue name -> logical id, from the ``smartcourse:function`` metadata."""
    out: dict[str, str] = {}
    for lid, res in resources.items():
        name = (res.get("Metadata") or {}).get("smartcourse:function")
        if res["Type"] == "AWS::Lambda::Function" and name:
            assert name not in out, f"two functions carry smartcourse:function={name}"
            out[name] = lid
    return out


def function_behind(resources: dict[str, Any], expr: Any) -> str | None:
    """The catalogue name of the function an integration/authorizer URI designates (through aliases)."""
    for lid in _refs(expr):
        res = resources.get(lid)
        if res is None:
            continue
        if res["Type"] == "AWS::Lambda::Function":
            return (res.get("Metadata") or {}).get("smartcourse:function")
        if res["Type"] in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
            return function_behind(resources, res["Properties"]["FunctionName"])
    return None


def resource_paths(resources: dict[str, Any]) -> dict[str, str]:
    """AWS::ApiGateway::Resource logical id -> full path, rebuilt from PathPart / ParentId."""
    parts = {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::ApiGateway::Resource"}

    def path(lid: str) -> str:
        props = parts[lid]
        parent = props["ParentId"]
        if "Fn::GetAtt" in parent:
            assert parent["Fn::GetAtt"][1] == "RootResourceId"
            return "/" + props["PathPart"]
        return path(parent["Ref"]) + "/" + props["PathPart"]

    return {lid: path(lid) for lid in parts}


def methods(resources: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, full path) -> the AWS::ApiGateway::Method properties."""
    paths = resource_paths(resources)
    out = {}
    for res in resources.values():
        if res["Type"] != "AWS::ApiGateway::Method":
            continue
        props = res["Properties"]
        resource_id = props["ResourceId"]
        path = "/" if "Fn::GetAtt" in resource_id else paths[resource_id["Ref"]]
        key = (props["HttpMethod"], path)
        assert key not in out, f"duplicate method {key}"
        out[key] = props
    return out


def exported_values(shared: dict[str, Any]) -> dict[str, Any]:
    """Export name -> the output's value in the shared template."""
    out = {}
    for output in shared.get("Outputs", {}).values():
        export = (output.get("Export") or {}).get("Name")
        if export:
            out[export] = output["Value"]
    return out


def secret_ids(shared: dict[str, Any]) -> tuple[str, str]:
    """(JWT signing key secret, DB credentials secret attachment) logical ids in the shared template."""
    res = shared["Resources"]
    jwt = [lid for lid, r in res.items() if r["Type"] == "AWS::SecretsManager::Secret"
           and "SecretStringTemplate" not in r["Properties"]["GenerateSecretString"]]
    db = [lid for lid, r in res.items() if r["Type"] == "AWS::SecretsManager::SecretTargetAttachment"]
    assert len(jwt) == 1 and len(db) == 1
    return jwt[0], db[0]


def role_statements(resources: dict[str, Any], role_lid: str) -> list[dict[str, Any]]:
    role = resources[role_lid]["Properties"]
    statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    assert not role.get("ManagedPolicyArns"), f"{role_lid} has managed policies"
    for res in resources.values():
        if res["Type"] == "AWS::IAM::Policy" and {"Ref": role_lid} in res["Properties"].get("Roles", []):
            statements.extend(res["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def lms_catalogue() -> tuple[catalogue.Function, ...]:
    return (*catalogue.PLATFORM_FUNCTIONS, *catalogue.API_FUNCTIONS[SERVICE],
            *catalogue.INTERNAL_FUNCTIONS.get(SERVICE, ()), *catalogue.EVENT_FUNCTIONS.get(SERVICE, ()))


def notification_catalogue() -> tuple[catalogue.Function, ...]:
    return catalogue.EVENT_FUNCTIONS[catalogue.Service.NOTIFICATION]


def database_of(spec: catalogue.Function) -> str:
    return f"smartcourse_{SERVICE if spec.service is catalogue.Service.PLATFORM else spec.service}"


def in_vpc(spec: catalogue.Function) -> bool:
    return bool(spec.grants & {Grant.DATABASE, Grant.KAFKA_PRODUCE, Grant.KAFKA_TOPICS})


# --- stacks -----------------------------------------------------------------------------------------------------

def test_stack_names(synth: Synth) -> None:
    assert synth.built.shared.stack_name == f"smartcourse-{synth.stage}-shared"
    assert synth.built.lms.stack_name == f"smartcourse-{synth.stage}-lms"
    assert synth.built.notification.stack_name == f"smartcourse-{synth.stage}-notification"


def test_no_cdk_nag_findings(synth: Synth) -> None:
    report = AwsSolutionsChecks().validate_scope(synth.built.lms.node.root)
    findings = [f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in report.violations]
    assert report.success, "\n".join(findings)
    for stack in (synth.built.shared, synth.built.lms, synth.built.notification):
        assert Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*")) == []
        assert Annotations.from_stack(stack).find_error("*", Match.any_value()) == []


def test_every_catalogue_function_is_deployed_once(synth: Synth) -> None:
    everywhere: list[str] = []
    for _, resources, specs in synth.service_stacks:
        deployed = functions_by_name(resources)
        assert set(deployed) == {f.name for f in specs}
        everywhere += deployed
        for spec in specs:
            _check_function(synth, resources[deployed[spec.name]]["Properties"], spec)
    assert sorted(everywhere) == sorted(f.name for f in catalogue.ALL_FUNCTIONS)


def _check_function(synth: Synth, props: dict[str, Any], spec: catalogue.Function) -> None:
    assert props["Handler"] == spec.handler
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["Timeout"] == spec.timeout_seconds
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["FunctionName"] == f"smartcourse-{synth.stage}-{spec.name}"
    assert len(props["Layers"]) == 2
    # Each service stack has its own layer versions: a cross-stack layer reference would block updates.
    assert all("Ref" in layer for layer in props["Layers"]), spec.name


def test_layers_are_marked(synth: Synth) -> None:
    for _, resources, _ in synth.service_stacks:
        kinds = {
            (r.get("Metadata") or {}).get("smartcourse:layer"): r["Properties"]
            for r in resources.values() if r["Type"] == "AWS::Lambda::LayerVersion"
        }
        assert set(kinds) == {"dependencies", "shared"}
        for props in kinds.values():
            assert props["CompatibleRuntimes"] == ["python3.12"]
            assert props["CompatibleArchitectures"] == ["arm64"]


# --- API --------------------------------------------------------------------------------------------------------

def test_every_route_is_wired(synth: Synth) -> None:
    resources = synth.lms_resources
    wired = methods(resources)
    authorizers = _authorizers(resources)
    expected = {(r.method.upper(), r.path) for f in catalogue.API_FUNCTIONS[SERVICE] for r in f.routes}
    assert set(wired) == expected, "the API has exactly the catalogue's routes"
    for spec in catalogue.API_FUNCTIONS[SERVICE]:
        for route in spec.routes:
            props = wired[(route.method.upper(), route.path)]
            integration = props["Integration"]
            assert integration["Type"] == "AWS_PROXY" and integration["IntegrationHttpMethod"] == "POST"
            assert function_behind(resources, integration["Uri"]) == spec.name, route
            if route.authorized:
                assert props["AuthorizationType"] == "CUSTOM", route
                kind = "optional" if route.anonymous else "required"
                assert props["AuthorizerId"] == {"Ref": authorizers[kind]}, route
            else:
                assert props["AuthorizationType"] == "NONE", route
                assert "AuthorizerId" not in props, route


def _authorizers(resources: dict[str, Any]) -> dict[str, str]:
    """``{"required": logical id, "optional": logical id}``: the token-keyed, cached one and the one for
    routes open to anyone (no identity source, so it is invoked without a token and never cached)."""
    found = {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::ApiGateway::Authorizer"}
    assert len(found) == 2
    required = [lid for lid, p in found.items() if p.get("IdentitySource")]
    optional = [lid for lid, p in found.items() if not p.get("IdentitySource")]
    assert len(required) == len(optional) == 1
    return {"required": required[0], "optional": optional[0]}


def test_authorizer(synth: Synth) -> None:
    resources = synth.lms_resources
    ids = _authorizers(resources)
    required, optional = resources[ids["required"]]["Properties"], resources[ids["optional"]]["Properties"]
    assert required["Type"] == optional["Type"] == "REQUEST"
    assert required["IdentitySource"] == "method.request.header.Authorization"
    assert 0 <= required["AuthorizerResultTtlInSeconds"] <= 300
    assert optional["AuthorizerResultTtlInSeconds"] == 0
    for props in (required, optional):
        assert function_behind(resources, props["AuthorizerUri"]) == catalogue.AUTHORIZER.name


def test_api_and_stage(synth: Synth) -> None:
    synth.lms.has_resource_properties("AWS::ApiGateway::RestApi", {"Name": f"smartcourse-{synth.stage}-lms"})
    synth.lms.has_resource_properties("AWS::ApiGateway::Stage", {
        "StageName": synth.stage,
        "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("requestId")},
        "TracingEnabled": True,
        "MethodSettings": [Match.object_like({
            "ThrottlingRateLimit": Match.any_value(), "ThrottlingBurstLimit": Match.any_value(),
            "DataTraceEnabled": False,
        })],
    })


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
    found = [r["Properties"] for r in dev.lms_resources.values()
             if r["Type"] == "AWS::ApiGateway::GatewayResponse" and r["Properties"]["ResponseType"] == response_type]
    assert len(found) == 1
    props = found[0]
    assert props.get("StatusCode") == status
    template = props["ResponseTemplates"]["application/json"]
    assert template.startswith('{"detail": ')
    if detail:
        assert detail in template
    assert props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"


def test_waf_follows_the_stage(dev: Synth, prod: Synth) -> None:
    dev.lms.resource_count_is("AWS::WAFv2::WebACLAssociation", 0)
    prod.lms.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
    prod.lms.has_resource_properties("AWS::WAFv2::WebACL", {"Scope": "REGIONAL"})


def test_alarms_follow_the_stage(dev: Synth, prod: Synth) -> None:
    dev.lms.resource_count_is("AWS::CloudWatch::Alarm", 0)
    prod.lms.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "5XXError"})
    prod.lms.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Latency", "ExtendedStatistic": "p95"})


# --- IAM and environment ----------------------------------------------------------------------------------------

def test_least_privilege_per_function(synth: Synth) -> None:
    shared = synth.shared_json
    jwt_lid, db_lid = secret_ids(shared)
    exports = exported_values(shared)
    for _, resources, specs in synth.service_stacks:
        deployed = functions_by_name(resources)
        for spec in specs:
            props = resources[deployed[spec.name]]["Properties"]
            statements = role_statements(resources, props["Role"]["Fn::GetAtt"][0])
            secrets: set[str] = set()
            for statement in statements:
                actions = _actions(statement)
                # The only Deny narrows the SMS "*" (see test_event_and_notification_permissions).
                assert statement["Effect"] == "Allow" or actions == ["sns:Publish"], (spec.name, statement)
                assert all(a != "*" and not a.endswith(":*") for a in actions), (spec.name, actions)
                if any(a.startswith("secretsmanager:") for a in actions):
                    assert statement["Resource"] != "*"
                    for name in _imports(statement["Resource"]):
                        secrets.update(_refs(exports[name]))
            expected = ({db_lid} if Grant.DATABASE in spec.grants else set()) | (
                {jwt_lid} if Grant.JWT_SIGNING_KEY in spec.grants else set())
            assert secrets == expected, spec.name
            connects = [s for s in statements if "rds-db:connect" in _actions(s)]
            assert bool(connects) == (Grant.DATABASE in spec.grants), spec.name
            assert bool(props.get("VpcConfig")) == in_vpc(spec), spec.name


def test_register_cannot_read_the_jwt_key_but_login_can(dev: Synth) -> None:
    resources = dev.lms_resources
    jwt_lid, _ = secret_ids(dev.shared_json)
    exports = exported_values(dev.shared_json)
    deployed = functions_by_name(resources)

    def reads_jwt(name: str) -> bool:
        role = resources[deployed[name]]["Properties"]["Role"]["Fn::GetAtt"][0]
        return any(jwt_lid in _refs(exports[i]) for s in role_statements(resources, role) for i in _imports(s))

    assert not reads_jwt("lms-auth-register")
    assert reads_jwt("lms-auth-login")
    assert reads_jwt(catalogue.AUTHORIZER.name)


def test_environment(synth: Synth) -> None:
    config = synth.built.config
    for _, resources, specs in synth.service_stacks:
        deployed = functions_by_name(resources)
        for spec in specs:
            env = resources[deployed[spec.name]]["Properties"]["Environment"]["Variables"]
            assert env["STAGE"] == synth.stage
            assert env["SERVICE_NAME"] == str(spec.service)
            assert env["SMARTCOURSE_FUNCTION"] == spec.name
            assert env["POWERTOOLS_SERVICE_NAME"] == str(spec.service)
            assert env["POWERTOOLS_METRICS_NAMESPACE"] == "SmartCourse"
            assert env["LOG_LEVEL"] and env["JWT_ISSUER"]
            assert env["DB_NAME"] == database_of(spec), spec.name
            assert int(env["ACCESS_TOKEN_TTL_SECONDS"]) > 0
            assert env["APP_BASE_URL"] == config.app_base_url
            assert env["PUBLIC_BASE_URL"] == config.public_base_url
            uses_db = Grant.DATABASE in spec.grants
            db_vars = {"DB_SECRET_ARN", "DB_HOST", "DB_PORT"}
            assert (db_vars & set(env)) == (db_vars if uses_db else set()), spec.name
            assert ("JWT_SECRET_ARN" in env) == (Grant.JWT_SIGNING_KEY in spec.grants), spec.name


def test_notification_routes_use_the_notification_database(synth: Synth) -> None:
    resources = synth.lms_resources
    deployed = functions_by_name(resources)
    assert catalogue.NOTIFICATION_API_FUNCTIONS
    for spec in catalogue.NOTIFICATION_API_FUNCTIONS:
        env = resources[deployed[spec.name]]["Properties"]["Environment"]["Variables"]
        assert env["DB_NAME"] == "smartcourse_notification", spec.name
    env = resources[deployed["lms-auth-login"]]["Properties"]["Environment"]["Variables"]
    assert env["DB_NAME"] == "smartcourse_lms"


# --- logging and lifecycle --------------------------------------------------------------------------------------

def test_log_retention(synth: Synth) -> None:
    for template in (synth.lms, synth.shared, synth.notification):
        groups = template.find_resources("AWS::Logs::LogGroup")
        assert groups
        for lid, group in groups.items():
            assert group["Properties"].get("RetentionInDays") == RETENTION_DAYS[synth.stage], lid
    for _, resources, _ in synth.service_stacks:
        for lid in functions_by_name(resources).values():
            log_group = resources[lid]["Properties"]["LoggingConfig"]["LogGroup"]
            assert resources[log_group["Ref"]]["Type"] == "AWS::Logs::LogGroup"


def test_prod_is_protected(prod: Synth) -> None:
    prod.shared.has_resource("AWS::RDS::DBCluster", {
        "Properties": Match.object_like({"DeletionProtection": True, "StorageEncrypted": True,
                                         "Engine": "aurora-postgresql",
                                         "EngineVersion": Match.string_like_regexp(r"^16\.")}),
        "DeletionPolicy": "Retain",
    })
    for secret in prod.shared.find_resources("AWS::SecretsManager::Secret").values():
        assert secret["DeletionPolicy"] == "Retain"
    for template in (prod.lms, prod.notification):
        for group in template.find_resources("AWS::Logs::LogGroup").values():
            assert group["DeletionPolicy"] == "Retain"
        for queue in template.find_resources("AWS::SQS::Queue").values():
            assert queue["DeletionPolicy"] == "Retain"


def test_dev_is_disposable(dev: Synth) -> None:
    dev.shared.has_resource("AWS::RDS::DBCluster", {
        "Properties": Match.object_like({"DeletionProtection": False}), "DeletionPolicy": "Delete",
    })
    # No stage-wide reservation in dev; only a function's own cap (the nudged outbox publisher's) remains.
    capped = {r["Properties"]["FunctionName"]: r["Properties"]["ReservedConcurrentExecutions"]
              for r in dev.lms.find_resources("AWS::Lambda::Function").values()
              if "ReservedConcurrentExecutions" in r["Properties"]}
    assert capped == {"smartcourse-dev-lms-outbox-publisher": 2}


def test_shared_infrastructure(synth: Synth) -> None:
    shared = synth.shared
    jwt_lid, _ = secret_ids(synth.shared_json)
    assert shared.to_json()["Resources"][jwt_lid]["Properties"]["GenerateSecretString"] == {
        "PasswordLength": 64, "ExcludePunctuation": True, "IncludeSpace": False,
    }
    shared.has_resource_properties("AWS::RDS::DBCluster", {
        "ServerlessV2ScalingConfiguration": {"MinCapacity": Match.any_value(), "MaxCapacity": Match.any_value()},
        "DatabaseName": "smartcourse_lms",
    })
    shared.has_resource_properties("AWS::RDS::DBProxy", {"RequireTLS": True, "EngineFamily": "POSTGRESQL"})
    shared.resource_count_is("AWS::EC2::NatGateway", 1 if synth.stage == "dev" else 2)
    shared.resource_count_is("AWS::EC2::FlowLog", 1)


def test_migrations_run_on_deploy(synth: Synth) -> None:
    resources = synth.lms_resources
    [trigger] = [r for r in resources.values() if r["Type"] == "Custom::Trigger"]
    assert function_behind(resources, trigger["Properties"]["HandlerArn"]) == catalogue.MIGRATE.name
    assert trigger["Properties"]["ExecuteOnHandlerChange"] is True
    assert trigger["Properties"]["InvocationType"] == "RequestResponse"


def test_functions_wait_for_migrations(synth: Synth) -> None:
    resources = synth.lms_resources
    [trigger] = [lid for lid, r in resources.items() if r["Type"] == "Custom::Trigger"]
    deployed = functions_by_name(resources)
    for spec in lms_catalogue():
        # The topics function runs as a custom resource of its own; it does not touch the database.
        if spec.name not in (catalogue.MIGRATE.name, catalogue.KAFKA_TOPICS.name):
            assert trigger in resources[deployed[spec.name]].get("DependsOn", []), spec.name
    for lid, res in resources.items():
        if res["Type"] in ("AWS::ApiGateway::Method", "AWS::ApiGateway::Authorizer", "AWS::ApiGateway::Stage"):
            assert trigger in res.get("DependsOn", []), lid


# --- S3 buckets (content, certificates) -------------------------------------------------------------------------

BUCKET_ENV = {Grant.CONTENT_BUCKET: "CONTENT_BUCKET", Grant.CERTIFICATE_BUCKET: "CERTIFICATE_BUCKET"}


def buckets_by_role(resources: dict[str, Any]) -> dict[str, str]:
    """"content" / "certificates" / "logs" -> the bucket's logical id (the storage construct's ids)."""
    out = {}
    for lid, res in resources.items():
        if res["Type"] == "AWS::S3::Bucket":
            for prefix, role in (("StorageContent", "content"), ("StorageCertificates", "certificates"),
                                 ("StorageAccessLogs", "logs")):
                if lid.startswith(prefix):
                    out[role] = lid
    assert len(out) == 3 == len([r for r in resources.values() if r["Type"] == "AWS::S3::Bucket"])
    return out


def bucket_policy(resources: dict[str, Any], bucket_lid: str) -> list[dict[str, Any]]:
    [policy] = [r["Properties"]["PolicyDocument"]["Statement"] for r in resources.values()
                if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_lid}]
    return list(policy)


def test_buckets_are_private_encrypted_and_tls_only(synth: Synth) -> None:
    resources = synth.lms_resources
    for lid in buckets_by_role(resources).values():
        props = resources[lid]["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, lid
        [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms"), lid
        assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}, lid
        deny_plain_http = [s for s in bucket_policy(resources, lid) if s["Effect"] == "Deny"
                           and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
        assert deny_plain_http and deny_plain_http[0]["Action"] == "s3:*", lid


def test_content_bucket_versioning_cors_and_lifecycle(synth: Synth) -> None:
    resources = synth.lms_resources
    ids = buckets_by_role(resources)
    content = resources[ids["content"]]["Properties"]
    assert content["VersioningConfiguration"] == {"Status": "Enabled"}
    [cors] = content["CorsConfiguration"]["CorsRules"]
    assert set(cors["AllowedMethods"]) == {"PUT", "GET", "HEAD"}
    assert "Content-Type" in cors["AllowedHeaders"]
    assert tuple(cors["AllowedOrigins"]) == synth.built.config.content_cors_origins
    assert ("*" in cors["AllowedOrigins"]) == (synth.stage == "dev")
    assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays", 0) > 0
               for r in content["LifecycleConfiguration"]["Rules"])
    assert "CorsConfiguration" not in resources[ids["certificates"]]["Properties"]
    for role in ("content", "certificates"):
        logging = resources[ids[role]]["Properties"]["LoggingConfiguration"]
        assert logging["DestinationBucketName"] == {"Ref": ids["logs"]}, role


def test_bucket_lifecycle_follows_the_stage(dev: Synth, prod: Synth) -> None:
    for lid in buckets_by_role(dev.lms_resources).values():
        assert dev.lms_resources[lid]["DeletionPolicy"] == "Delete"
    assert len(dev.lms.find_resources("Custom::S3AutoDeleteObjects")) == 3
    for lid in buckets_by_role(prod.lms_resources).values():
        assert prod.lms_resources[lid]["DeletionPolicy"] == "Retain"
    prod.lms.resource_count_is("Custom::S3AutoDeleteObjects", 0)


def _s3_statements(resources: dict[str, Any], name: str) -> list[dict[str, Any]]:
    role = resources[functions_by_name(resources)[name]]["Properties"]["Role"]["Fn::GetAtt"][0]
    return [s for s in role_statements(resources, role) if any(a.startswith("s3:") for a in _actions(s))]


def test_no_function_touches_a_bucket_without_its_grant(synth: Synth) -> None:
    resources = synth.lms_resources
    deployed = functions_by_name(resources)
    for spec in lms_catalogue():
        env = resources[deployed[spec.name]]["Properties"]["Environment"]["Variables"]
        for grant, variable in BUCKET_ENV.items():
            assert (variable in env) == (grant in spec.grants), spec.name
        if not spec.grants & set(BUCKET_ENV):
            assert _s3_statements(resources, spec.name) == [], spec.name


def test_bucket_grants_are_prefix_scoped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A function with both bucket grants gets object access under its prefixes only, and nag stays clean."""
    probe = catalogue.Function(
        name="lms-storage-probe", service=SERVICE, handler="lms.storage_probe.handler",
        description="infrastructure test: both bucket grants",
        grants=frozenset({Grant.CONTENT_BUCKET, Grant.CERTIFICATE_BUCKET}),
    )
    monkeypatch.setitem(catalogue.INTERNAL_FUNCTIONS, SERVICE,
                        (*catalogue.INTERNAL_FUNCTIONS.get(SERVICE, ()), probe))
    synth = _synth("dev")
    resources = synth.lms_resources
    ids = buckets_by_role(resources)
    env = resources[functions_by_name(resources)[probe.name]]["Properties"]["Environment"]["Variables"]
    assert env["CONTENT_BUCKET"] == {"Ref": ids["content"]}
    assert env["CERTIFICATE_BUCKET"] == {"Ref": ids["certificates"]}

    granted: set[tuple[str, str, str]] = set()  # (bucket logical id, "" or object ARN suffix, action)
    for statement in _s3_statements(resources, probe.name):
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for target in targets:
            bucket, suffix = (target["Fn::GetAtt"][0], "") if "Fn::GetAtt" in target else (
                target["Fn::Join"][1][0]["Fn::GetAtt"][0], target["Fn::Join"][1][1])
            granted |= {(bucket, suffix, action) for action in _actions(statement)}
    content, certificates = ids["content"], ids["certificates"]
    assert granted == {
        *((content, "/courses/*", a) for a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")),
        *((certificates, "/certificates/*", a) for a in ("s3:GetObject", "s3:PutObject")),
        (content, "", "s3:ListBucket"), (certificates, "", "s3:ListBucket"),
    }
    report = AwsSolutionsChecks().validate_scope(synth.built.lms.node.root)
    assert report.success, "\n".join(f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}"
                                     for v in report.violations)


# --- event backbone and notifications ---------------------------------------------------------------------------

CLUSTER = "cluster"
KAFKA_ESM_ENI_ACTIONS = {"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
                         "ec2:DeleteNetworkInterface", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"}
EVENT_ACTION_PREFIXES = ("kafka:", "kafka-cluster:", "sqs:", "ses:", "sns:", "lambda:")


def event_functions() -> tuple[catalogue.Function, ...]:
    return tuple(f for fs in catalogue.EVENT_FUNCTIONS.values() for f in fs)


def cluster_lid(shared: dict[str, Any]) -> str:
    [lid] = [lid for lid, r in shared["Resources"].items() if r["Type"] == "AWS::MSK::ServerlessCluster"]
    return lid


def resource_key(expr: Any, resources: dict[str, Any], shared: dict[str, Any]) -> str:
    """A readable name for an IAM resource / ARN expression: ``cluster``, ``topic:<name>``, ``group:<name>``,
    ``queue:<QueueName>``, ``function:<FunctionName>``, ``ses:<identity>``, a literal, or ``*``."""
    if isinstance(expr, str):
        return expr
    if "Fn::ImportValue" in expr:
        value = exported_values(shared)[expr["Fn::ImportValue"]]
        lid = next(_refs(value))
        assert lid == cluster_lid(shared) and value == {"Fn::GetAtt": [lid, "Arn"]}, value
        return CLUSTER
    if "Fn::Join" in expr:
        text = ""
        for part in expr["Fn::Join"][1]:
            if isinstance(part, str):
                text += part
            elif "Ref" in part and resources.get(part["Ref"], {}).get("Type") == "AWS::SES::EmailIdentity":
                text += resources[part["Ref"]]["Properties"]["EmailIdentity"]
            elif "Fn::Select" in part or "Ref" in part:
                text += "{}"
            else:
                raise AssertionError(f"unexpected ARN part {part}")
        for pattern, kind in ((r"^\{\}:(topic|group)/[^/]+/\{\}/(.+)$", None),
                              (r"^arn:\{\}:lambda:\{\}:\{\}:function:(.+)$", "function"),
                              (r"^arn:\{\}:ses:\{\}:\{\}:identity/(.+)$", "ses")):
            match = re.match(pattern, text)
            if match and kind is None:
                return f"{match.group(1)}:{match.group(2)}"
            if match:
                return f"{kind}:{match.group(1)}"
        return text
    [lid] = list(_refs(expr))[:1]
    res = resources[lid]
    if res["Type"] == "AWS::SQS::Queue":
        return f"queue:{res['Properties']['QueueName']}"
    if res["Type"] == "AWS::Lambda::Function":
        return f"function:{res['Properties']['FunctionName']}"
    return f"{res['Type']}:{lid}"


def permissions(resources: dict[str, Any], shared: dict[str, Any], role_lid: str,
                prefixes: tuple[str, ...] = EVENT_ACTION_PREFIXES) -> set[tuple[str, str, str]]:
    """(effect, action, resource key) of every statement of the role, for actions starting with ``prefixes``."""
    out = set()
    for statement in role_statements(resources, role_lid):
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in _actions(statement):
            if action.startswith(prefixes):
                out |= {(statement["Effect"], action, resource_key(t, resources, shared)) for t in targets}
    return out


def expected_permissions(spec: catalogue.Function, stage: str) -> set[tuple[str, str, str]]:
    """Exactly what the function's grants and triggers call for (actions of EVENT_ACTION_PREFIXES)."""
    name = f"smartcourse-{stage}-{spec.name}"
    topics = catalogue.topics.ALL_TOPICS
    out: set[tuple[str, str, str]] = set()

    def allow(actions: tuple[str, ...], *keys: str) -> None:
        out.update(("Allow", a, k) for a in actions for k in keys)

    if Grant.KAFKA_PRODUCE in spec.grants:
        allow(("kafka-cluster:Connect", "kafka-cluster:DescribeCluster"), CLUSTER)
        allow(("kafka-cluster:WriteData", "kafka-cluster:DescribeTopic"), *(f"topic:{t}" for t in topics))
    if Grant.KAFKA_TOPICS in spec.grants:
        allow(("kafka-cluster:Connect", "kafka-cluster:DescribeCluster"), CLUSTER)
        allow(("kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic"), *(f"topic:{t}" for t in topics))
    if spec.kafka is not None:
        allow(("kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration",
               "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"), CLUSTER)
        allow(("kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"), *(f"topic:{t}" for t in spec.kafka.topics))
        allow(("kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"),
              *(f"group:{name}.{t}" for t in spec.kafka.topics))
        allow(("sqs:SendMessage",), f"queue:{name}-dlq")
    if Grant.OUTBOX_NUDGE in spec.grants:
        allow(("lambda:InvokeFunction",), f"function:smartcourse-{stage}-lms-outbox-publisher")
    if Grant.NOTIFICATION_QUEUE in spec.grants:
        allow(("sqs:SendMessage",), f"queue:smartcourse-{stage}-{catalogue.NOTIFICATION_SEND_QUEUE}")
    if Grant.EMAIL in spec.grants:
        allow(("ses:SendEmail", "ses:SendRawEmail"), f"ses:{stage_identity(stage)}")
    if Grant.SMS in spec.grants:
        allow(("sns:Publish", "sns:CheckIfPhoneNumberIsOptedOut"), "*")
        out.add(("Deny", "sns:Publish", "arn:{}:sns:*:*:*"))
    if Grant.ISSUE_ONE_TIME_TOKEN in spec.grants:
        allow(("lambda:InvokeFunction",), f"function:smartcourse-{stage}-lms-auth-issue-one-time-token")
    if spec.sqs is not None:
        allow(("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
               "sqs:GetQueueUrl"),
              f"queue:smartcourse-{stage}-{spec.sqs.queue}")
    return out


def stage_identity(stage: str) -> str:
    from stacks.stage_config import stage_config

    return stage_config(stage).mail_identity


def _role_of(resources: dict[str, Any], name: str) -> str:
    return str(resources[functions_by_name(resources)[name]]["Properties"]["Role"]["Fn::GetAtt"][0])


def _env(resources: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(resources[functions_by_name(resources)[name]]["Properties"]["Environment"]["Variables"])


def test_event_and_notification_permissions(synth: Synth) -> None:
    """Every function gets exactly the Kafka/SQS/SES/SNS/Lambda permissions its grants and triggers call for."""
    for _, resources, specs in synth.service_stacks:
        for spec in specs:
            granted = permissions(resources, synth.shared_json, _role_of(resources, spec.name))
            assert granted == expected_permissions(spec, synth.stage), spec.name


def test_outbox_nudge_goes_to_every_writing_lms_route() -> None:
    for spec in catalogue.API_FUNCTIONS[SERVICE]:
        writes = spec.service is SERVICE and any(r.method != "GET" for r in spec.routes)
        assert (Grant.OUTBOX_NUDGE in spec.grants) == writes, spec.name
    assert all(Grant.OUTBOX_NUDGE not in f.grants for f in (*catalogue.PLATFORM_FUNCTIONS, *event_functions()))


def test_event_environment(synth: Synth) -> None:
    stage, config = synth.stage, synth.built.config
    brokers = [lid for lid, r in synth.shared_json["Resources"].items() if r["Type"] == "Custom::AWS"]
    assert len(brokers) == 1
    for _, resources, specs in synth.service_stacks:
        for spec in specs:
            env = _env(resources, spec.name)
            kafka = bool(spec.grants & {Grant.KAFKA_PRODUCE, Grant.KAFKA_TOPICS}) or spec.kafka is not None
            assert ("KAFKA_BOOTSTRAP_SERVERS" in env) == kafka, spec.name
            if kafka:
                assert env["KAFKA_AUTH"] == "iam"
                [export] = list(_imports(env["KAFKA_BOOTSTRAP_SERVERS"]))
                assert exported_values(synth.shared_json)[export] == {
                    "Fn::GetAtt": [brokers[0], "BootstrapBrokerStringSaslIam"]}
            expected = {
                "OUTBOX_PUBLISHER_FUNCTION": (Grant.OUTBOX_NUDGE in spec.grants,
                                              f"smartcourse-{stage}-lms-outbox-publisher"),
                "TOKEN_ISSUER_FUNCTION": (Grant.ISSUE_ONE_TIME_TOKEN in spec.grants,
                                          f"smartcourse-{stage}-lms-auth-issue-one-time-token"),
                "MAIL_FROM": (Grant.EMAIL in spec.grants, config.mail_from),
            }
            for variable, (wanted, value) in expected.items():
                assert env.get(variable) == (value if wanted else None), (spec.name, variable)
            if spec.kafka is not None:
                assert resource_key(env["CONSUMER_DLQ_URL"], resources, synth.shared_json) == \
                    f"queue:smartcourse-{stage}-{spec.name}-dlq"
            else:
                assert "CONSUMER_DLQ_URL" not in env
            if Grant.NOTIFICATION_QUEUE in spec.grants:
                assert resource_key(env["NOTIFICATION_QUEUE_URL"], resources, synth.shared_json) == \
                    f"queue:smartcourse-{stage}-{catalogue.NOTIFICATION_SEND_QUEUE}"
            else:
                assert "NOTIFICATION_QUEUE_URL" not in env
            # An SQS-triggered function knows its queue's last delivery (the redrive maxReceiveCount).
            if spec.sqs is not None:
                from stacks.notification_stack import MAX_RECEIVE_COUNT

                assert env.get("TRIGGER_QUEUE_MAX_RECEIVES") == str(MAX_RECEIVE_COUNT), spec.name
            else:
                assert "TRIGGER_QUEUE_MAX_RECEIVES" not in env


def test_event_cluster(synth: Synth) -> None:
    shared = synth.shared_json["Resources"]
    props = shared[cluster_lid(synth.shared_json)]["Properties"]
    assert props["ClusterName"] == f"smartcourse-{synth.stage}-events"
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
    assert "getBootstrapBrokers" in json_text(brokers["Create"]) and "Kafka" in json_text(brokers["Create"])


def json_text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def test_topics_custom_resource(synth: Synth) -> None:
    resources = synth.lms_resources
    [topics] = [(lid, r) for lid, r in resources.items() if r["Type"] == "Custom::KafkaTopics"]
    lid, res = topics
    assert res["Properties"]["Topics"] == [{"Name": t, "Partitions": "6"} for t in sorted(catalogue.topics.ALL_TOPICS)]
    # Provider framework: its onEvent function invokes platform-kafka-topics.
    [provider] = list(_refs(res["Properties"]["ServiceToken"]))
    env = resources[provider]["Properties"]["Environment"]["Variables"]
    assert function_behind(resources, env["USER_ON_EVENT_FUNCTION_ARN"]) == catalogue.KAFKA_TOPICS.name
    # Mappings of this stack wait for the topics.
    for mapping_lid, mapping in resources.items():
        if mapping["Type"] == "AWS::Lambda::EventSourceMapping" and "Topics" in mapping["Properties"]:
            assert lid in mapping.get("DependsOn", []), mapping_lid


def test_kafka_triggers(synth: Synth) -> None:
    """One MSK event source mapping per topic, with its own consumer group, and the ESM's ENI permissions."""
    for _, resources, specs in synth.service_stacks:
        mappings = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
                    and "Topics" in r["Properties"]]
        found = {(function_behind(resources, m["FunctionName"]), m["Topics"][0]): m for m in mappings}
        assert all(len(m["Topics"]) == 1 for m in mappings)
        wanted = {(f.name, t): f for f in specs if f.kafka for t in f.kafka.topics}
        assert set(found) == set(wanted)
        for (name, topic), props in found.items():
            spec = wanted[(name, topic)]
            assert spec.kafka is not None
            assert resource_key(props["EventSourceArn"], resources, synth.shared_json) == CLUSTER
            assert props["StartingPosition"] == spec.kafka.starting_position
            assert props["BatchSize"] == spec.kafka.batch_size
            assert props["AmazonManagedKafkaEventSourceConfig"] == {
                "ConsumerGroupId": f"smartcourse-{synth.stage}-{name}.{topic}"}
            eni = {a for s in role_statements(resources, _role_of(resources, name)) if s["Resource"] == "*"
                   for a in _actions(s)}
            assert eni >= KAFKA_ESM_ENI_ACTIONS, name
    groups = [m["Properties"]["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"]
              for _, resources, _ in synth.service_stacks for m in resources.values()
              if m["Type"] == "AWS::Lambda::EventSourceMapping" and "Topics" in m["Properties"]]
    assert len(groups) == len(set(groups)), "Lambda needs a distinct consumer group per mapping"


def _queues(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["QueueName"]: r for r in resources.values() if r["Type"] == "AWS::SQS::Queue"}


def _queue_lid(resources: dict[str, Any], name: str) -> str:
    [lid] = [lid for lid, r in resources.items() if r["Type"] == "AWS::SQS::Queue"
             and r["Properties"]["QueueName"] == name]
    return lid


def _denies_plain_http(resources: dict[str, Any], queue_lid: str) -> bool:
    for res in resources.values():
        if res["Type"] == "AWS::SQS::QueuePolicy" and {"Ref": queue_lid} in res["Properties"]["Queues"]:
            return any(s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                       for s in res["Properties"]["PolicyDocument"]["Statement"])
    return False


def test_queues_are_encrypted_tls_only_and_dead_letters_kept_14_days(synth: Synth) -> None:
    dead_letter_names = {f"smartcourse-{synth.stage}-{f.name}-dlq" for f in event_functions() if f.kafka} | {
        f"smartcourse-{synth.stage}-{f.sqs.queue}-dlq" for f in event_functions() if f.sqs}
    seen = set()
    for _, resources, _ in synth.service_stacks:
        for name, queue in _queues(resources).items():
            props = queue["Properties"]
            assert props["SqsManagedSseEnabled"] is True, name
            assert _denies_plain_http(resources, _queue_lid(resources, name)), name
            if name.endswith("-dlq"):
                assert props["MessageRetentionPeriod"] == 14 * 24 * 3600, name
                seen.add(name)
    assert seen == dead_letter_names


def test_sqs_trigger(synth: Synth) -> None:
    resources = synth.notification_resources
    for spec in (f for f in notification_catalogue() if f.sqs):
        assert spec.sqs is not None
        [mapping] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
                     and function_behind(resources, r["Properties"]["FunctionName"]) == spec.name]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BatchSize"] == spec.sqs.batch_size
        queue_name = f"smartcourse-{synth.stage}-{spec.sqs.queue}"
        assert resource_key(mapping["EventSourceArn"], resources, synth.shared_json) == f"queue:{queue_name}"
        props = _queues(resources)[queue_name]["Properties"]
        assert props["VisibilityTimeout"] >= 6 * spec.timeout_seconds
        redrive = props["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == 5
        assert resource_key(redrive["deadLetterTargetArn"], resources, synth.shared_json) == f"queue:{queue_name}-dlq"


def test_schedules(synth: Synth) -> None:
    """Each scheduled function: an EventBridge Scheduler schedule whose role may invoke that function only."""
    for _, resources, specs in synth.service_stacks:
        schedules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
        assert {function_behind(resources, s["Target"]["Arn"]): s["ScheduleExpression"] for s in schedules} == {
            f.name: f.schedule.expression for f in specs if f.schedule}
        for props in schedules:
            target = props["Target"]
            assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
            assert props["State"] == "ENABLED"
            assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
            role = resources[target["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
            [trust] = role["AssumeRolePolicyDocument"]["Statement"]
            assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
            assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
            [statement] = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
            assert statement["Effect"] == "Allow" and statement["Action"] == "lambda:InvokeFunction"
            assert statement["Resource"] == target["Arn"]


def test_the_nudged_outbox_publisher_is_capped_and_drops_stale_nudges(synth: Synth) -> None:
    """Every commit with events nudges the publisher: its concurrency is its own (whatever the stage), and an
    asynchronous nudge is neither retried nor kept past a minute (the schedule is the backstop)."""
    resources = synth.lms.to_json()["Resources"]
    [function_id] = [lid for lid, r in resources.items() if r["Type"] == "AWS::Lambda::Function"
                     and r["Properties"].get("FunctionName") == f"smartcourse-{synth.stage}-lms-outbox-publisher"]
    assert resources[function_id]["Properties"]["ReservedConcurrentExecutions"] == 2
    [config] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert config["FunctionName"] == {"Ref": function_id}
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (0, 60)


def test_ses_identity(synth: Synth) -> None:
    config = synth.built.config
    identities = synth.notification.find_resources("AWS::SES::EmailIdentity")
    assert [r["Properties"]["EmailIdentity"] for r in identities.values()] == [config.mail_identity]
    assert config.mail_from == config.mail_identity or config.mail_from.endswith("@" + config.mail_identity)


def test_notification_stack_references_no_lms_resource(synth: Synth) -> None:
    """Only stack ordering ties notification to LMS (the token issuer is invoked by name): no export, no cycle."""
    template = synth.notification.to_json()
    imports = set(_imports(template))
    assert imports and all(i.startswith(f"smartcourse-{synth.stage}-shared:") for i in imports)
    assert synth.built.lms in synth.built.notification.dependencies


def test_event_alarms_follow_the_stage(dev: Synth, prod: Synth) -> None:
    dev.lms.resource_count_is("AWS::CloudWatch::Alarm", 0)
    dev.notification.resource_count_is("AWS::CloudWatch::Alarm", 0)
    prod.lms.has_resource_properties("AWS::CloudWatch::Alarm", {
        "Namespace": "SmartCourse", "MetricName": "OutboxRowsFailed",
        "Dimensions": [{"Name": "service", "Value": "lms"}], "Statistic": "Sum",
        "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
    })
    # An outage parks nothing (it uses up no attempts): its own alarm says events wait on the broker.
    prod.lms.has_resource_properties("AWS::CloudWatch::Alarm", {
        "Namespace": "SmartCourse", "MetricName": "OutboxBrokerUnavailable",
        "Dimensions": [{"Name": "service", "Value": "lms"}], "Statistic": "Sum", "Period": 300,
        "Threshold": 3, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    })
    alarmed = set()
    for _, resources, _ in prod.service_stacks:
        for res in resources.values():
            props = res["Properties"]
            if res["Type"] == "AWS::CloudWatch::Alarm" and props.get("MetricName") == \
                    "ApproximateNumberOfMessagesVisible":
                assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
                [dimension] = props["Dimensions"]
                lid = dimension["Value"]["Fn::GetAtt"][0]
                alarmed.add(resources[lid]["Properties"]["QueueName"])
    dead_letters = {n for _, resources, _ in prod.service_stacks for n in _queues(resources) if n.endswith("-dlq")}
    assert dead_letters and alarmed == dead_letters


def test_stacks_fit_the_cloudformation_resource_limit(synth: Synth) -> None:
    """500 resources per stack (CDK adds its metadata resource on top); function roles carry inline policies only."""
    for template in (synth.shared, synth.lms, synth.notification):
        assert len(template.to_json()["Resources"]) < 480
    for _, resources, _ in synth.service_stacks:
        roles = {_role_of(resources, name) for name in functions_by_name(resources)}
        policies = [lid for lid, r in resources.items() if r["Type"] == "AWS::IAM::Policy"
                    and any(ref.get("Ref") in roles for ref in r["Properties"].get("Roles", []))]
        assert policies == []
