"""Read a synthesized cloud assembly (``cdk.out``) into the model the local runner serves.

Only what the runner needs is modelled: Lambda functions and their layers,
REST APIs (routes, authorizers, gateway responses), event source mappings,
schedules, queues, secrets, buckets, SNS topics, SES identities and
configuration sets, MSK clusters (for their ARN). Custom resources are
listed but never run: their attributes stay unresolved locally. Values that are CloudFormation
intrinsics stay raw here; :mod:`localcloud.provision` resolves them.

Every resource is keyed by its *qualified id*, ``"<stack>/<logical id>"``, as
logical ids are unique only within a stack.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("localcloud.template")

FUNCTION_METADATA_KEY = "smartcourse:function"
LAYER_METADATA_KEY = "smartcourse:layer"
ASSET_PATH_KEY = "aws:asset:path"
SKIPPED_LAYER_KINDS = frozenset({"dependencies"})  # the workers' interpreter (the project venv) has them


def qid(stack: str, logical_id: str) -> str:
    return f"{stack}/{logical_id}"


@dataclass
class Stack:
    name: str
    template: dict[str, Any]
    directory: Path  # the (nested) assembly directory holding the template and its assets

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.get("Resources", {})

    def of_type(self, type_: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource.get("Type") == type_:
                yield logical_id, resource.get("Properties") or {}

    def type_of(self, logical_id: str) -> str | None:
        resource = self.resources.get(logical_id)
        return resource.get("Type") if resource else None


@dataclass
class LambdaFunction:
    qid: str
    name: str  # the catalogue name (``smartcourse:function``), else the logical id
    handler: str
    code_dir: Path
    layer_dirs: list[Path]
    environment: dict[str, Any]  # raw: values may be intrinsics
    timeout: int = 3
    memory_mb: int = 128
    function_name: Any = None  # the FunctionName property (raw), when set
    reserved_concurrency: int | None = None


@dataclass
class Authorizer:
    qid: str
    type: str  # REQUEST | TOKEN
    function: str  # qid of the Lambda function
    identity_sources: list[str]
    ttl_seconds: int = 300
    validation_expression: str | None = None


@dataclass
class Route:
    method: str  # GET ... or ANY
    resource_path: str  # /v1/items/{item_id}
    integration: str  # AWS_PROXY, MOCK, ...
    function: str | None = None  # qid, for AWS_PROXY
    authorizer: Authorizer | None = None
    mock_status: int = 200
    mock_headers: dict[str, str] = field(default_factory=dict)
    mock_body: str = ""


@dataclass
class GatewayResponse:
    type: str
    status: int | None
    headers: dict[str, str]
    templates: dict[str, str]


@dataclass
class RestApi:
    qid: str
    name: str
    service: str  # the Name's last dash-separated part: smartcourse-dev-lms -> lms
    stage: str
    routes: list[Route]
    gateway_responses: dict[str, GatewayResponse]
    binary_media_types: list[str]


@dataclass
class Queue:
    qid: str
    name: Any  # QueueName (raw) or None
    fifo: bool
    attributes: dict[str, Any]  # VisibilityTimeout, DelaySeconds, ... (raw)
    dead_letter_queue: str | None = None  # qid
    max_receive_count: int | None = None


@dataclass
class EventSourceMapping:
    qid: str
    function: str  # qid
    kind: str  # sqs | kafka
    batch_size: int
    queue: str | None = None  # qid, for sqs
    topics: list[str] = field(default_factory=list)
    starting_position: str = "TRIM_HORIZON"
    report_batch_item_failures: bool = False
    event_source_arn: Any = None  # raw
    self_managed: bool = False
    enabled: bool = True
    maximum_retry_attempts: int | None = None
    batching_window_seconds: float = 0.0
    consumer_group_id: str | None = None


@dataclass
class Schedule:
    qid: str
    expression: str
    function: str  # qid
    input: Any = None  # raw JSON text (or intrinsic), None when absent
    timezone: str | None = None
    enabled: bool = True
    kind: str = "scheduler"  # scheduler (AWS::Scheduler::Schedule) | rule (AWS::Events::Rule)


@dataclass
class Secret:
    qid: str
    name: Any
    generate: dict[str, Any] | None
    secret_string: Any = None


@dataclass
class Bucket:
    qid: str
    name: Any


@dataclass
class Table:
    """A DynamoDB table: its name (raw) and the properties the emulator needs to create it."""

    qid: str
    name: Any  # TableName (raw) or None
    key_schema: list[dict[str, Any]]
    attribute_definitions: list[dict[str, Any]]
    ttl_attribute: str | None


@dataclass
class Topic:
    qid: str
    name: Any  # TopicName (raw) or None
    fifo: bool


@dataclass
class CloudTemplate:
    stacks: dict[str, Stack] = field(default_factory=dict)
    functions: dict[str, LambdaFunction] = field(default_factory=dict)
    apis: dict[str, RestApi] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    mappings: dict[str, EventSourceMapping] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    topics: dict[str, Topic] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    email_identities: dict[str, Any] = field(default_factory=dict)  # qid -> EmailIdentity (raw): address or domain
    configuration_sets: dict[str, Any] = field(default_factory=dict)  # qid -> Name (raw) or None
    kafka_clusters: dict[str, Any] = field(default_factory=dict)  # qid -> ClusterName (raw) or None
    custom_resources: list[str] = field(default_factory=list)  # qids, not run locally
    exports: dict[str, tuple[str, Any]] = field(default_factory=dict)  # export name -> (stack, value expression)

    def type_of(self, qualified_id: str) -> str | None:
        stack, _, logical_id = qualified_id.partition("/")
        return self.stacks[stack].type_of(logical_id) if stack in self.stacks else None

    @property
    def kafka_topics(self) -> list[str]:
        return sorted({t for m in self.mappings.values() if m.kind == "kafka" for t in m.topics})


# --------------------------------------------------------------------------------------------- assembly


def find_stacks(cdk_out: Path) -> list[Stack]:
    """Every CloudFormation stack of the assembly, nested assemblies (CDK stages) included."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    stacks: list[Stack] = []
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        props = artifact.get("properties", {})
        if artifact.get("type") == "aws:cloudformation:stack":
            template = json.loads((cdk_out / props["templateFile"]).read_text())
            stack = Stack(artifact.get("displayName", artifact_id).replace("/", "-"), template, cdk_out)
            _merge_nested_stacks(stack)
            stacks.append(stack)
        elif artifact.get("type") == "cdk:cloud-assembly":
            stacks.extend(find_stacks(cdk_out / props["directoryName"]))
    return stacks


def _nested_template(stack: Stack, logical_id: str, props: dict[str, Any]) -> Path | None:
    metadata = stack.resources[logical_id].get("Metadata") or {}
    if ASSET_PATH_KEY in metadata:
        return stack.directory / metadata[ASSET_PATH_KEY]
    url = json.dumps(props.get("TemplateURL"))  # a Join ending in "/<hash>.json"
    for key, source in _asset_paths(stack).items():
        if key.endswith(".json") and f"/{key}" in url:
            return source
    return None


def _substitute(expr: Any, parameters: dict[str, Any]) -> Any:
    """``expr`` with every ``{"Ref": <parameter>}`` replaced by the value the parent passes for it."""
    if isinstance(expr, dict):
        if set(expr) == {"Ref"} and expr["Ref"] in parameters:
            return parameters[expr["Ref"]]
        return {k: _substitute(v, parameters) for k, v in expr.items()}
    if isinstance(expr, list):
        return [_substitute(v, parameters) for v in expr]
    return expr


def _merge_nested_stacks(stack: Stack) -> None:
    """Fold nested stacks (``AWS::CloudFormation::Stack``) into their parent, as one stack to serve.

    A nested stack's parameters are the parent's expressions (e.g. a function's ``Fn::GetAtt``), so its
    resources, with those substituted, resolve in the parent exactly as CloudFormation resolves them.
    """
    for logical_id, props in list(stack.of_type("AWS::CloudFormation::Stack")):
        path = _nested_template(stack, logical_id, props)
        if path is None or not path.is_file():
            continue
        nested = Stack(stack.name, json.loads(path.read_text()), stack.directory)
        _merge_nested_stacks(nested)
        resources = _substitute(nested.resources, props.get("Parameters") or {})
        clashes = set(resources) & set(stack.resources)
        if clashes:  # pragma: no cover - CDK logical ids carry path hashes
            raise ValueError(f"{stack.name}: nested stack {logical_id} reuses logical ids {sorted(clashes)}")
        stack.resources.update(resources)


def _asset_paths(stack: Stack) -> dict[str, Path]:
    """S3 object key -> local asset directory, from the stack's asset manifests."""
    paths: dict[str, Path] = {}
    for manifest in stack.directory.glob("*.assets.json"):
        for asset in json.loads(manifest.read_text()).get("files", {}).values():
            source = stack.directory / asset.get("source", {}).get("path", "")
            for dest in asset.get("destinations", {}).values():
                paths[dest.get("objectKey", "")] = source
    return paths


def _asset_dir(stack: Stack, logical_id: str, code: dict[str, Any], assets: dict[str, Path]) -> Path | None:
    metadata = stack.resources[logical_id].get("Metadata") or {}
    if ASSET_PATH_KEY in metadata:
        return (stack.directory / metadata[ASSET_PATH_KEY]).resolve()
    key = code.get("S3Key")
    if isinstance(key, str) and key in assets:
        return assets[key].resolve()
    return None


def references(expr: Any) -> Iterator[str]:
    """Logical ids an expression points at through Ref / Fn::GetAtt (first found first)."""
    if isinstance(expr, dict):
        if "Ref" in expr and isinstance(expr["Ref"], str):
            yield expr["Ref"]
        elif "Fn::GetAtt" in expr:
            target = expr["Fn::GetAtt"]
            yield target[0] if isinstance(target, list) else str(target).split(".", 1)[0]
        for value in expr.values():
            yield from references(value)
    elif isinstance(expr, list):
        for value in expr:
            yield from references(value)


def _referenced(stack: Stack, expr: Any, type_: str) -> str | None:
    return next((lid for lid in references(expr) if stack.type_of(lid) == type_), None)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# --------------------------------------------------------------------------------------------- parse


def load(cdk_out: Path) -> CloudTemplate:
    model = CloudTemplate()
    for stack in find_stacks(cdk_out.resolve()):
        model.stacks[stack.name] = stack
        for output in (stack.template.get("Outputs") or {}).values():
            export = (output.get("Export") or {}).get("Name")
            if isinstance(export, str):
                model.exports[export] = (stack.name, output.get("Value"))
    for stack in model.stacks.values():
        _load_stack(model, stack)
    return model


def _load_stack(model: CloudTemplate, stack: Stack) -> None:
    assets = _asset_paths(stack)
    layers: dict[str, Path | None] = {}
    for lid, props in stack.of_type("AWS::Lambda::LayerVersion"):
        kind = (stack.resources[lid].get("Metadata") or {}).get(LAYER_METADATA_KEY)
        asset = _asset_dir(stack, lid, props.get("Content") or {}, assets)
        layers[lid] = None if kind in SKIPPED_LAYER_KINDS or asset is None else asset / "python"
    for lid, props in stack.of_type("AWS::Lambda::Function"):
        fn = _function(stack, lid, props, assets, layers)
        if fn is not None:
            model.functions[fn.qid] = fn
    for lid, props in stack.of_type("AWS::SQS::Queue"):
        redrive = props.get("RedrivePolicy") or {}
        dlq = _referenced(stack, redrive.get("deadLetterTargetArn"), "AWS::SQS::Queue")
        attributes = {k: v for k, v in props.items() if k not in ("QueueName", "RedrivePolicy", "Tags")}
        model.queues[qid(stack.name, lid)] = Queue(
            qid(stack.name, lid), props.get("QueueName"), bool(props.get("FifoQueue")), attributes,
            qid(stack.name, dlq) if dlq else None, _int(redrive.get("maxReceiveCount"), 0) or None,
        )
    for lid, props in stack.of_type("AWS::SecretsManager::Secret"):
        model.secrets[qid(stack.name, lid)] = Secret(qid(stack.name, lid), props.get("Name"),
                                                     props.get("GenerateSecretString"), props.get("SecretString"))
    for lid, props in stack.of_type("AWS::S3::Bucket"):
        model.buckets[qid(stack.name, lid)] = Bucket(qid(stack.name, lid), props.get("BucketName"))
    for lid, props in stack.of_type("AWS::DynamoDB::Table"):
        ttl = props.get("TimeToLiveSpecification") or {}
        model.tables[qid(stack.name, lid)] = Table(
            qid(stack.name, lid), props.get("TableName"), list(props.get("KeySchema") or []),
            list(props.get("AttributeDefinitions") or []),
            str(ttl["AttributeName"]) if _truthy(ttl.get("Enabled")) and ttl.get("AttributeName") else None)
    for lid, props in stack.of_type("AWS::SNS::Topic"):
        model.topics[qid(stack.name, lid)] = Topic(qid(stack.name, lid), props.get("TopicName"),
                                                   _truthy(props.get("FifoTopic")))
    for lid, props in stack.of_type("AWS::SES::EmailIdentity"):
        model.email_identities[qid(stack.name, lid)] = props.get("EmailIdentity")
    for lid, props in stack.of_type("AWS::SES::ConfigurationSet"):
        model.configuration_sets[qid(stack.name, lid)] = props.get("Name")
    for type_ in ("AWS::MSK::ServerlessCluster", "AWS::MSK::Cluster"):
        for lid, props in stack.of_type(type_):
            model.kafka_clusters[qid(stack.name, lid)] = props.get("ClusterName")
    for lid, resource in stack.resources.items():
        type_ = str(resource.get("Type", ""))
        if type_.startswith("Custom::") or type_ == "AWS::CloudFormation::CustomResource":
            model.custom_resources.append(qid(stack.name, lid))
    for lid, props in stack.of_type("AWS::Lambda::EventSourceMapping"):
        mapping = _mapping(model, stack, lid, props)
        if mapping is not None:
            model.mappings[mapping.qid] = mapping
    for schedule in _schedules(model, stack):
        model.schedules[schedule.qid] = schedule
    for lid, props in stack.of_type("AWS::ApiGateway::RestApi"):
        model.apis[qid(stack.name, lid)] = _rest_api(model, stack, lid, props)


def _function(stack: Stack, lid: str, props: dict[str, Any], assets: dict[str, Path],
              layers: dict[str, Path | None]) -> LambdaFunction | None:
    metadata = stack.resources[lid].get("Metadata") or {}
    runtime = props.get("Runtime")
    if isinstance(runtime, str) and not runtime.startswith("python"):
        # CDK's own helpers (custom resource providers, bucket deployments) are often Node.js.
        log.info("function %s/%s: runtime %s is not run locally; skipped", stack.name, lid, runtime)
        return None
    code_dir = _asset_dir(stack, lid, props.get("Code") or {}, assets)
    if code_dir is None or not isinstance(props.get("Handler"), str):
        log.warning("function %s/%s: no local code asset or handler (inline/container code?); skipped",
                    stack.name, lid)
        return None
    layer_dirs: list[Path] = []
    for ref in props.get("Layers") or []:
        layer_lid = next(references(ref), None)
        if layer_lid in layers:
            layer_dir = layers[layer_lid]
            if layer_dir is not None:
                layer_dirs.append(layer_dir)
        else:
            log.warning("function %s/%s: layer %s is not in the template; skipped", stack.name, lid, ref)
    return LambdaFunction(
        qid=qid(stack.name, lid),
        name=str(metadata.get(FUNCTION_METADATA_KEY) or lid),
        handler=props["Handler"],
        code_dir=code_dir,
        layer_dirs=layer_dirs,
        environment=dict((props.get("Environment") or {}).get("Variables") or {}),
        timeout=_int(props.get("Timeout"), 3),
        memory_mb=_int(props.get("MemorySize"), 128),
        function_name=props.get("FunctionName"),
        reserved_concurrency=_int(props.get("ReservedConcurrentExecutions"), 0) or None,
    )


def _function_ref(model: CloudTemplate, stack: Stack, expr: Any) -> str | None:
    """The function an expression (ARN GetAtt, Ref, Join of an invocation URI, name, import) designates."""
    if isinstance(expr, dict) and isinstance(expr.get("Fn::ImportValue"), str):
        exported = model.exports.get(expr["Fn::ImportValue"])
        return _function_ref(model, model.stacks[exported[0]], exported[1]) if exported else None
    if isinstance(expr, str):  # a literal name or ARN of a function in this assembly
        short = expr.split(":function:", 1)[-1].split(":", 1)[0]
        for fn_lid, props in stack.of_type("AWS::Lambda::Function"):
            if props.get("FunctionName") == short:
                return qid(stack.name, fn_lid)
        return None
    for lid in references(expr):
        type_ = stack.type_of(lid)
        if type_ == "AWS::Lambda::Function":
            return qid(stack.name, lid)
        if type_ in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
            return _function_ref(model, stack, stack.resources[lid]["Properties"].get("FunctionName"))
    return _function_by_name(model, _literal_text(expr))


def _literal_text(expr: Any) -> str:
    """The literal strings of an expression, joined (``Fn::Join`` of an ARN built from a function's name)."""
    if isinstance(expr, str):
        return expr
    if isinstance(expr, dict):
        return "".join(_literal_text(v) for k, v in expr.items() if k not in ("Ref", "Fn::GetAtt"))
    if isinstance(expr, list):
        return "".join(_literal_text(v) for v in expr)
    return ""


def _function_by_name(model: CloudTemplate, text: str) -> str | None:
    """The function (of any stack) an ARN text names: another stack's function referenced by its name."""
    _, found, rest = text.partition(":function:")
    if not found:
        return None
    name = rest.split(":", 1)[0].split("/", 1)[0]
    for other in model.stacks.values():
        for fn_lid, props in other.of_type("AWS::Lambda::Function"):
            if props.get("FunctionName") == name:
                return qid(other.name, fn_lid)
    return None


def _mapping(model: CloudTemplate, stack: Stack, lid: str, props: dict[str, Any]) -> EventSourceMapping | None:
    function = _function_ref(model, stack, props.get("FunctionName"))
    if function is None:
        log.warning("event source mapping %s/%s: function %s not found; skipped", stack.name, lid,
                    props.get("FunctionName"))
        return None
    common: dict[str, Any] = {
        "qid": qid(stack.name, lid), "function": function, "event_source_arn": props.get("EventSourceArn"),
        "enabled": props.get("Enabled", True) not in (False, "false"),
        "report_batch_item_failures": "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        "batching_window_seconds": float(props.get("MaximumBatchingWindowInSeconds") or 0),
    }
    retries = props.get("MaximumRetryAttempts")
    common["maximum_retry_attempts"] = None if retries in (None, -1) else _int(retries, 0)
    source, source_stack = props.get("EventSourceArn"), stack
    if isinstance(source, dict) and isinstance(source.get("Fn::ImportValue"), str):
        exported = model.exports.get(source["Fn::ImportValue"])  # a queue of another stack
        if exported:
            source_stack, source = model.stacks[exported[0]], exported[1]
    queue = _referenced(source_stack, source, "AWS::SQS::Queue")
    if queue is not None:
        return EventSourceMapping(kind="sqs", batch_size=_int(props.get("BatchSize"), 10),
                                  queue=qid(source_stack.name, queue), **common)
    if props.get("Topics"):
        return EventSourceMapping(kind="kafka", batch_size=_int(props.get("BatchSize"), 100),
                                  topics=[str(t) for t in props["Topics"]],
                                  starting_position=str(props.get("StartingPosition") or "TRIM_HORIZON"),
                                  self_managed="SelfManagedEventSource" in props,
                                  consumer_group_id=(props.get("AmazonManagedKafkaEventSourceConfig")
                                                     or props.get("SelfManagedKafkaEventSourceConfig")
                                                     or {}).get("ConsumerGroupId"), **common)
    log.warning("event source mapping %s/%s: unsupported source %s; skipped", stack.name, lid,
                props.get("EventSourceArn"))
    return None


def _schedules(model: CloudTemplate, stack: Stack) -> Iterator[Schedule]:
    for lid, props in stack.of_type("AWS::Scheduler::Schedule"):
        target = props.get("Target") or {}
        function = _function_ref(model, stack, target.get("Arn"))
        if function is None:
            log.warning("schedule %s/%s: target %s is not a function here; skipped", stack.name, lid,
                        target.get("Arn"))
            continue
        yield Schedule(qid(stack.name, lid), str(props.get("ScheduleExpression")), function, target.get("Input"),
                       props.get("ScheduleExpressionTimezone"), props.get("State", "ENABLED") != "DISABLED")
    for lid, props in stack.of_type("AWS::Events::Rule"):
        if not props.get("ScheduleExpression"):
            continue
        for i, target in enumerate(props.get("Targets") or []):
            function = _function_ref(model, stack, target.get("Arn"))
            if function is not None:
                yield Schedule(qid(stack.name, f"{lid}#{i}"), str(props["ScheduleExpression"]), function,
                               target.get("Input"), None, props.get("State", "ENABLED") != "DISABLED", "rule")


# --------------------------------------------------------------------------------------------- REST APIs

GATEWAY_RESPONSE_HEADER_PREFIX = "gatewayresponse.header."
METHOD_RESPONSE_HEADER_PREFIX = "method.response.header."


def _quoted(value: Any) -> str:
    """API Gateway mapping values are quoted literals: ``'*'`` -> ``*``."""
    text = str(value)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def _rest_api(model: CloudTemplate, stack: Stack, api_lid: str, props: dict[str, Any]) -> RestApi:
    if props.get("Body") or props.get("BodyS3Location"):
        log.warning("REST API %s/%s is defined by an OpenAPI body: not supported, only Resources/Methods are read",
                    stack.name, api_lid)

    def belongs(p: dict[str, Any]) -> bool:
        return api_lid in list(references(p.get("RestApiId")))

    paths: dict[str, str] = {}
    resources = {lid: p for lid, p in stack.of_type("AWS::ApiGateway::Resource") if belongs(p)}

    def path_of(resource_expr: Any) -> str:
        lid = next(references(resource_expr), api_lid)
        if lid == api_lid or lid not in resources:
            return "/"
        if lid not in paths:
            parent = path_of(resources[lid].get("ParentId"))
            paths[lid] = parent.rstrip("/") + "/" + str(resources[lid].get("PathPart"))
        return paths[lid]

    authorizers: dict[str, Authorizer] = {}
    for lid, p in stack.of_type("AWS::ApiGateway::Authorizer"):
        function = _function_ref(model, stack, p.get("AuthorizerUri"))
        if belongs(p) and function is not None:
            sources = [s.strip() for s in str(p.get("IdentitySource") or "").split(",") if s.strip()]
            authorizers[lid] = Authorizer(qid(stack.name, lid), str(p.get("Type", "TOKEN")).upper(), function,
                                          sources, _int(p.get("AuthorizerResultTtlInSeconds"), 300),
                                          p.get("IdentityValidationExpression"))
    routes: list[Route] = []
    for lid, p in stack.of_type("AWS::ApiGateway::Method"):
        if not belongs(p):
            continue
        integration = p.get("Integration") or {}
        route = Route(str(p.get("HttpMethod", "ANY")).upper(), path_of(p.get("ResourceId")),
                      str(integration.get("Type", "MOCK")).upper())
        if p.get("AuthorizationType") == "CUSTOM":
            route.authorizer = authorizers.get(next(references(p.get("AuthorizerId")), ""))
            if route.authorizer is None:
                log.warning("method %s/%s: authorizer %s not found", stack.name, lid, p.get("AuthorizerId"))
        if route.integration == "AWS_PROXY":
            route.function = _function_ref(model, stack, integration.get("Uri"))
        elif route.integration == "MOCK":
            first = (integration.get("IntegrationResponses") or [{}])[0]
            route.mock_status = _int(first.get("StatusCode"), 200)
            route.mock_headers = {
                k.removeprefix(METHOD_RESPONSE_HEADER_PREFIX): _quoted(v)
                for k, v in (first.get("ResponseParameters") or {}).items()
                if k.startswith(METHOD_RESPONSE_HEADER_PREFIX) and isinstance(v, str)
            }
            templates = first.get("ResponseTemplates") or {}
            route.mock_body = str(templates.get("application/json", "")) if templates else ""
        routes.append(route)
    responses: dict[str, GatewayResponse] = {}
    for _lid, p in stack.of_type("AWS::ApiGateway::GatewayResponse"):
        if belongs(p):
            headers = {k.removeprefix(GATEWAY_RESPONSE_HEADER_PREFIX): _quoted(v)
                       for k, v in (p.get("ResponseParameters") or {}).items() if isinstance(v, str)}
            status = _int(p.get("StatusCode"), 0) or None
            responses[str(p.get("ResponseType"))] = GatewayResponse(
                str(p.get("ResponseType")), status, headers, dict(p.get("ResponseTemplates") or {}))
    stage = next((str(p.get("StageName")) for _l, p in stack.of_type("AWS::ApiGateway::Stage")
                  if belongs(p) and isinstance(p.get("StageName"), str)), None)
    stage = stage or next((str(p.get("StageName")) for _l, p in stack.of_type("AWS::ApiGateway::Deployment")
                           if belongs(p) and isinstance(p.get("StageName"), str)), "prod")
    name = str(props["Name"]) if isinstance(props.get("Name"), str) else api_lid
    return RestApi(qid(stack.name, api_lid), name, name.rsplit("-", 1)[-1].lower(), stage, routes, responses,
                   [str(t) for t in props.get("BinaryMediaTypes") or []])
