"""CDK assertions on the synthesized dev and prod templates (bundling skipped).

Routes, authorizer, IAM, logging and lifecycle are checked against the function
catalogue, the single source of truth, so a catalogue change is covered
without touching this file.
"""

from __future__ import annotations

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

    @property
    def lms_resources(self) -> dict[str, Any]:
        return dict(self.lms.to_json()["Resources"])

    @property
    def shared_json(self) -> dict[str, Any]:
        return dict(self.shared.to_json())


def _synth(stage: str) -> Synth:
    app = App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": [], "stage": stage})
    built = build(app)
    return Synth(stage, built, Template.from_stack(built.lms), Template.from_stack(built.shared))


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
            *catalogue.INTERNAL_FUNCTIONS.get(SERVICE, ()))


# --- stacks -----------------------------------------------------------------------------------------------------

def test_stack_names(synth: Synth) -> None:
    assert synth.built.shared.stack_name == f"smartcourse-{synth.stage}-shared"
    assert synth.built.lms.stack_name == f"smartcourse-{synth.stage}-lms"


def test_no_cdk_nag_findings(synth: Synth) -> None:
    report = AwsSolutionsChecks().validate_scope(synth.built.lms.node.root)
    findings = [f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in report.violations]
    assert report.success, "\n".join(findings)
    for stack in (synth.built.shared, synth.built.lms):
        assert Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*")) == []
        assert Annotations.from_stack(stack).find_error("*", Match.any_value()) == []


def test_every_catalogue_function_is_deployed_once(synth: Synth) -> None:
    deployed = functions_by_name(synth.lms_resources)
    assert set(deployed) == {f.name for f in lms_catalogue()}
    for spec in lms_catalogue():
        props = synth.lms_resources[deployed[spec.name]]["Properties"]
        assert props["Handler"] == spec.handler
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["Timeout"] == spec.timeout_seconds
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["FunctionName"] == f"smartcourse-{synth.stage}-{spec.name}"
        assert len(props["Layers"]) == 2


def test_layers_are_marked(synth: Synth) -> None:
    kinds = {
        (r.get("Metadata") or {}).get("smartcourse:layer"): r["Properties"]
        for r in synth.lms_resources.values() if r["Type"] == "AWS::Lambda::LayerVersion"
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
    resources = synth.lms_resources
    shared = synth.shared_json
    jwt_lid, db_lid = secret_ids(shared)
    exports = exported_values(shared)
    deployed = functions_by_name(resources)
    for spec in lms_catalogue():
        props = resources[deployed[spec.name]]["Properties"]
        statements = role_statements(resources, props["Role"]["Fn::GetAtt"][0])
        secrets: set[str] = set()
        for statement in statements:
            assert statement["Effect"] == "Allow"
            actions = _actions(statement)
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
        assert bool(props.get("VpcConfig")) == (Grant.DATABASE in spec.grants), spec.name


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
    resources = synth.lms_resources
    deployed = functions_by_name(resources)
    for spec in lms_catalogue():
        env = resources[deployed[spec.name]]["Properties"]["Environment"]["Variables"]
        assert env["STAGE"] == synth.stage
        assert env["SERVICE_NAME"] == str(spec.service)
        assert env["SMARTCOURSE_FUNCTION"] == spec.name
        assert env["POWERTOOLS_SERVICE_NAME"] == str(spec.service)
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "SmartCourse"
        assert env["LOG_LEVEL"] and env["JWT_ISSUER"]
        assert env["DB_NAME"] == "smartcourse_lms"
        assert int(env["ACCESS_TOKEN_TTL_SECONDS"]) > 0
        uses_db = Grant.DATABASE in spec.grants
        db_vars = {"DB_SECRET_ARN", "DB_HOST", "DB_PORT"}
        assert (db_vars & set(env)) == (db_vars if uses_db else set()), spec.name
        assert ("JWT_SECRET_ARN" in env) == (Grant.JWT_SIGNING_KEY in spec.grants), spec.name


# --- logging and lifecycle --------------------------------------------------------------------------------------

def test_log_retention(synth: Synth) -> None:
    for template in (synth.lms, synth.shared):
        groups = template.find_resources("AWS::Logs::LogGroup")
        assert groups
        for lid, group in groups.items():
            assert group["Properties"].get("RetentionInDays") == RETENTION_DAYS[synth.stage], lid
    deployed = functions_by_name(synth.lms_resources)
    for lid in deployed.values():
        log_group = synth.lms_resources[lid]["Properties"]["LoggingConfig"]["LogGroup"]
        assert synth.lms_resources[log_group["Ref"]]["Type"] == "AWS::Logs::LogGroup"


def test_prod_is_protected(prod: Synth) -> None:
    prod.shared.has_resource("AWS::RDS::DBCluster", {
        "Properties": Match.object_like({"DeletionProtection": True, "StorageEncrypted": True,
                                         "Engine": "aurora-postgresql",
                                         "EngineVersion": Match.string_like_regexp(r"^16\.")}),
        "DeletionPolicy": "Retain",
    })
    for secret in prod.shared.find_resources("AWS::SecretsManager::Secret").values():
        assert secret["DeletionPolicy"] == "Retain"
    for group in prod.lms.find_resources("AWS::Logs::LogGroup").values():
        assert group["DeletionPolicy"] == "Retain"


def test_dev_is_disposable(dev: Synth) -> None:
    dev.shared.has_resource("AWS::RDS::DBCluster", {
        "Properties": Match.object_like({"DeletionProtection": False}), "DeletionPolicy": "Delete",
    })
    assert all("ReservedConcurrentExecutions" not in r["Properties"]
               for r in dev.lms.find_resources("AWS::Lambda::Function").values())


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
        if spec.name != catalogue.MIGRATE.name:
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
