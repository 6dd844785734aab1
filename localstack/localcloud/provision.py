"""Create the template's stateful resources in the local stand-ins and resolve intrinsics to local values.

Queues (with their redrive policy), buckets, DynamoDB tables (with their TTL),
secrets, SNS topics, SES identities (verified) and configuration sets go to the
AWS emulator (moto);
Kafka topics named by event source mappings go to the broker. An MSK cluster
gets a local ARN; custom resources are not run, so their attributes stay
unresolved (the runner's overrides, e.g. KAFKA_BOOTSTRAP_SERVERS, replace
what functions would have read from them).
Generated secret values are kept in ``state_dir/secrets.json`` so that tokens
signed with them survive a restart of the local cloud.

Intrinsics (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split,
Fn::ImportValue, Fn::Base64) resolve to the local resources' values; anything
else becomes ``localcloud-unresolved:<what>`` so a function that uses it fails
with an explicit value instead of a silent empty string.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import secrets as secrets_random
import string
import time
import uuid
from pathlib import Path
from typing import Any

from localcloud.template import CloudTemplate, LambdaFunction, Queue, Table, qid

log = logging.getLogger("localcloud.provision")

ACCOUNT_ID = "123456789012"  # moto's default account
UNRESOLVED = "localcloud-unresolved:"
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
QUEUE_ATTRIBUTES = ("VisibilityTimeout", "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
                    "ReceiveMessageWaitTimeSeconds", "FifoQueue", "ContentBasedDeduplication")


def unresolved(what: str) -> str:
    return f"{UNRESOLVED}{what}"


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def generate_secret_string(spec: dict[str, Any]) -> str:
    """A value following a GenerateSecretString spec (length, excluded sets and characters, template + key)."""
    excluded = set(str(spec.get("ExcludeCharacters") or ""))
    pools = [
        pool for flag, pool in (
            ("ExcludeLowercase", string.ascii_lowercase), ("ExcludeUppercase", string.ascii_uppercase),
            ("ExcludeNumbers", string.digits), ("ExcludePunctuation", PUNCTUATION),
        ) if not _truthy(spec.get(flag))
    ]
    if _truthy(spec.get("IncludeSpace")):
        pools.append(" ")
    pools = ["".join(c for c in pool if c not in excluded) for pool in pools]
    pools = [pool for pool in pools if pool]
    alphabet = "".join(pools)
    length = int(spec.get("PasswordLength") or 32)
    rng = secrets_random.SystemRandom()
    chars = [rng.choice(pool) for pool in pools] if spec.get("RequireEachIncludedType", True) is not False else []
    chars += [rng.choice(alphabet) for _ in range(max(0, length - len(chars)))]
    rng.shuffle(chars)
    value = "".join(chars[:length])
    if spec.get("SecretStringTemplate") and spec.get("GenerateStringKey"):
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = value
        return json.dumps(document)
    return value


def _physical_name(stack: str, logical_id: str, *, allowed: str, max_len: int, lower: bool = False) -> str:
    name = f"{stack}-{logical_id}"
    name = name.lower() if lower else name
    return re.sub(f"[^{allowed}]", "-", name)[:max_len]


SSM_PARAMETER_TYPE = "AWS::SSM::Parameter::Value"

class LocalResources:
    """The local physical values of the template's resources, creating them on :meth:`provision`."""

    def __init__(self, model: CloudTemplate, state_dir: Path, *, region: str = "us-east-1",
                 aws_endpoint: str | None = None, kafka_bootstrap: str | None = None,
                 kafka_partitions: int = 3) -> None:
        self.model = model
        self.state_dir = state_dir
        self.region = region
        self.aws_endpoint = aws_endpoint
        self.kafka_bootstrap = kafka_bootstrap
        self.kafka_partitions = kafka_partitions
        self.attributes: dict[str, dict[str, str]] = {}  # qid -> {"Ref": ..., "Arn": ...}
        self._name_attributes()

    # ------------------------------------------------------------------ names known without any I/O

    def _name_attributes(self) -> None:
        for fn in self.model.functions.values():
            name = self.function_name(fn)
            self.attributes[fn.qid] = {"Ref": name, "Arn": self.function_arn(fn)}
        for api in self.model.apis.values():
            api_id = hashlib.sha256(api.qid.encode()).hexdigest()[:10]
            self.attributes[api.qid] = {"Ref": api_id, "RootResourceId": api_id[:6]}
        for cfn_stack in self.model.stacks.values():
            for lid, props in cfn_stack.of_type("AWS::ApiGateway::Stage"):
                self.attributes[qid(cfn_stack.name, lid)] = {"Ref": str(props.get("StageName"))}
        for bucket in self.model.buckets.values():
            stack, _, lid = bucket.qid.partition("/")
            name = self.resolve(stack, bucket.name) if bucket.name else _physical_name(
                stack, lid, allowed="a-z0-9.-", max_len=63, lower=True)
            self.attributes[bucket.qid] = {
                "Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
            }
        for cluster_qid, raw_name in self.model.kafka_clusters.items():
            stack, _, lid = cluster_qid.partition("/")
            name = self.resolve(stack, raw_name) if raw_name else _physical_name(
                stack, lid, allowed="A-Za-z0-9-", max_len=64)
            arn = (f"arn:aws:kafka:{self.region}:{ACCOUNT_ID}:cluster/{name}/"
                   f"{uuid.uuid5(uuid.NAMESPACE_URL, cluster_qid)}-s1")
            self.attributes[cluster_qid] = {"Ref": arn, "Arn": arn}
        for table in self.model.tables.values():
            stack, _, lid = table.qid.partition("/")
            name = str(self.resolve(stack, table.name)) if table.name else _physical_name(
                stack, lid, allowed="A-Za-z0-9_.-", max_len=255)
            arn = f"arn:aws:dynamodb:{self.region}:{ACCOUNT_ID}:table/{name}"
            self.attributes[table.qid] = {"Ref": name, "Arn": arn}
        for identity_qid, identity in self.model.email_identities.items():
            value = str(self.resolve(identity_qid.partition("/")[0], identity))
            self.attributes[identity_qid] = {"Ref": value}
        for set_qid, raw_name in self.model.configuration_sets.items():
            stack, _, lid = set_qid.partition("/")
            name = self.resolve(stack, raw_name) if raw_name else _physical_name(
                stack, lid, allowed="A-Za-z0-9_-", max_len=64)
            self.attributes[set_qid] = {"Ref": str(name)}

    def function_name(self, fn: LambdaFunction) -> str:
        if isinstance(fn.function_name, str):
            return fn.function_name
        return fn.name

    def function_arn(self, fn: LambdaFunction) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name(fn)}"

    def queue_url(self, queue_qid: str) -> str:
        return self.attributes.get(queue_qid, {}).get("Ref") or unresolved(f"queue {queue_qid}")

    def queue_arn(self, queue_qid: str) -> str:
        return self.attributes.get(queue_qid, {}).get("Arn") or unresolved(f"queue {queue_qid}")

    # ------------------------------------------------------------------ provisioning

    def provision(self) -> None:
        model = self.model
        needs_aws = (model.queues or model.buckets or model.tables or model.secrets or model.topics
                     or model.email_identities or model.configuration_sets)
        if needs_aws and not self.aws_endpoint:
            log.warning("no AWS endpoint (AWS_ENDPOINT_URL): queues, buckets, tables, secrets, topics and SES "
                        "identities are not created")
        elif needs_aws:
            self._queues()
            self._buckets()
            self._tables()
            self._secrets()
            self._sns_topics()
            self._ses()
        if model.custom_resources:
            log.info("custom resources not run locally (their attributes stay unresolved): %s",
                     ", ".join(model.custom_resources))
        if self.model.kafka_topics:
            if self.kafka_bootstrap:
                self._topics(self.model.kafka_topics)
            else:
                log.warning("no Kafka (KAFKA_BOOTSTRAP_SERVERS): topics %s not created", self.model.kafka_topics)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.aws_endpoint, region_name=self.region,  # type: ignore[call-overload]
                            aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106
                            aws_session_token="testing")  # noqa: S106

    def _queues(self) -> None:
        sqs = self.client("sqs")
        ordered = sorted(self.model.queues.values(), key=lambda q: q.dead_letter_queue is not None)
        for queue in ordered:
            self._queue(sqs, queue)

    def _queue(self, sqs: Any, queue: Queue) -> None:
        stack, _, lid = queue.qid.partition("/")
        name = self.resolve(stack, queue.name) if queue.name else _physical_name(
            stack, lid, allowed="A-Za-z0-9_-", max_len=75) + (".fifo" if queue.fifo else "")
        attributes = {k: str(self.resolve(stack, queue.attributes[k])).lower()
                      if isinstance(queue.attributes[k], bool) else str(self.resolve(stack, queue.attributes[k]))
                      for k in QUEUE_ATTRIBUTES if k in queue.attributes}
        if queue.dead_letter_queue:
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": self.queue_arn(queue.dead_letter_queue),
                                                      "maxReceiveCount": queue.max_receive_count or 1})
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except sqs.exceptions.QueueNameExists:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes={k: v for k, v in attributes.items()
                                                               if k not in ("FifoQueue",)})
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.attributes[queue.qid] = {"Ref": url, "QueueUrl": url, "Arn": arn, "QueueName": name}
        log.info("queue %s ready (%s)", name, url)

    def _buckets(self) -> None:
        s3 = self.client("s3")
        for bucket in self.model.buckets.values():
            name = self.attributes[bucket.qid]["Ref"]
            extra = {} if self.region == "us-east-1" else {
                "CreateBucketConfiguration": {"LocationConstraint": self.region}}
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
                s3.create_bucket(Bucket=name, **extra)

    def _tables(self) -> None:
        if not self.model.tables:
            return
        dynamodb = self.client("dynamodb")
        for table in self.model.tables.values():
            self._table(dynamodb, table)

    def _table(self, dynamodb: Any, table: Table) -> None:
        name = self.attributes[table.qid]["Ref"]
        # Every table is on-demand locally (capacity means nothing to the emulator).
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
            dynamodb.create_table(TableName=name, KeySchema=table.key_schema,
                                  AttributeDefinitions=table.attribute_definitions, BillingMode="PAY_PER_REQUEST")
        current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if table.ttl_attribute and current.get("TimeToLiveStatus") != "ENABLED":  # enabling twice is an error
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": table.ttl_attribute})
        log.info("table %s ready", name)

    def _sns_topics(self) -> None:
        if not self.model.topics:
            return
        sns = self.client("sns")
        for topic in self.model.topics.values():
            stack, _, lid = topic.qid.partition("/")
            name = self.resolve(stack, topic.name) if topic.name else _physical_name(
                stack, lid, allowed="A-Za-z0-9_-", max_len=250) + (".fifo" if topic.fifo else "")
            attributes = {"FifoTopic": "true"} if topic.fifo else {}
            arn = sns.create_topic(Name=str(name), Attributes=attributes)["TopicArn"]  # idempotent
            self.attributes[topic.qid] = {"Ref": arn, "TopicArn": arn, "TopicName": str(name)}

    def _ses(self) -> None:
        if not (self.model.email_identities or self.model.configuration_sets):
            return
        ses = self.client("ses")
        for identity_qid in self.model.email_identities:
            identity = self.attributes[identity_qid]["Ref"]
            # Both calls are idempotent; the emulator verifies at once, as the SES sandbox would after the click.
            if "@" in identity:
                ses.verify_email_identity(EmailAddress=identity)
            else:
                ses.verify_domain_identity(Domain=identity)
            log.info("SES identity %s verified", identity)
        for set_qid in self.model.configuration_sets:
            name = self.attributes[set_qid]["Ref"]
            with contextlib.suppress(ses.exceptions.ConfigurationSetAlreadyExistsException):
                ses.create_configuration_set(ConfigurationSet={"Name": name})

    def _secret_values(self) -> dict[str, str]:
        path = self.state_dir / "secrets.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _secrets(self) -> None:
        sm = self.client("secretsmanager")
        values = self._secret_values()
        changed = False
        for secret in self.model.secrets.values():
            stack, _, lid = secret.qid.partition("/")
            name = self.resolve(stack, secret.name) if secret.name else _physical_name(
                stack, lid, allowed="A-Za-z0-9/_+=.@-", max_len=512)
            if secret.secret_string is not None:
                value = self.resolve(stack, secret.secret_string)
                value = value if isinstance(value, str) else json.dumps(value)
            elif secret.qid in values:
                value = values[secret.qid]
            else:
                spec = dict(secret.generate or {})
                template = spec.get("SecretStringTemplate")
                if template is not None and not isinstance(template, str):
                    # e.g. a service role's secret naming the master secret's ARN (an RDS DatabaseSecret).
                    resolved = self.resolve(stack, template)
                    spec["SecretStringTemplate"] = resolved if isinstance(resolved, str) else json.dumps(resolved)
                value = generate_secret_string(spec)
                values[secret.qid], changed = value, True
            try:
                arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
            except sm.exceptions.ResourceExistsException:
                arn = sm.put_secret_value(SecretId=name, SecretString=value)["ARN"]
            self.attributes[secret.qid] = {"Ref": arn, "Id": arn, "Name": name}
        for cfn_stack in self.model.stacks.values():  # an attachment's Ref is its secret's ARN
            for lid, props in cfn_stack.of_type("AWS::SecretsManager::SecretTargetAttachment"):
                self.attributes[qid(cfn_stack.name, lid)] = {"Ref": str(self.resolve(cfn_stack.name,
                                                                                     props.get("SecretId")))}
        if changed:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            path = self.state_dir / "secrets.json"
            path.write_text(json.dumps(values, indent=2))
            path.chmod(0o600)

    def _topics(self, topics: list[str]) -> None:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import KafkaError, TopicAlreadyExistsError

        deadline = time.monotonic() + 30
        while True:
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.kafka_bootstrap, client_id="localcloud-runner")
                break
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        try:
            existing = set(admin.list_topics())
            wanted = [NewTopic(t, self.kafka_partitions, 1) for t in topics if t not in existing]
            if wanted:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(wanted)
        finally:
            admin.close()

    # ------------------------------------------------------------------ intrinsics

    def environment(self, fn: LambdaFunction) -> dict[str, str]:
        """The function's template environment with every intrinsic resolved to a string.

        A value that cannot be resolved (an attribute of a custom resource, a
        malformed intrinsic) becomes an ``localcloud-unresolved:`` placeholder,
        never an error: the runner's overrides may replace it anyway.
        """
        stack = fn.qid.partition("/")[0]
        env: dict[str, str] = {}
        for key, raw in fn.environment.items():
            try:
                value = self.resolve(stack, raw)
            except Exception as exc:  # a template we cannot follow must not stop the whole cloud
                log.warning("function %s: %s = %s cannot be resolved locally (%s)", fn.name, key,
                            json.dumps(raw)[:200], exc)
                value = unresolved(f"{type(exc).__name__}:{key}")
            if value is None:
                continue  # AWS::NoValue
            env[key] = value if isinstance(value, str) else json.dumps(value)
        return env

    def resolve(self, stack: str, expr: Any) -> Any:
        if isinstance(expr, list):
            return [self.resolve(stack, item) for item in expr]
        if not isinstance(expr, dict):
            return expr
        if len(expr) != 1:
            return {k: self.resolve(stack, v) for k, v in expr.items()}
        ((fn, arg),) = expr.items()
        if fn == "Ref":
            return self._ref(stack, str(arg))
        if fn == "Fn::GetAtt":
            lid, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self._get_att(stack, str(lid), str(attr))
        if fn == "Fn::Join":
            parts = self.resolve(stack, arg[1])
            if not isinstance(parts, list):
                return unresolved("Fn::Join")
            return str(arg[0]).join(str(part) for part in parts)
        if fn == "Fn::Sub":
            return self._sub(stack, arg)
        if fn == "Fn::Select":
            items, index = self.resolve(stack, arg[1]), self.resolve(stack, arg[0])
            if isinstance(items, list) and str(index).isdigit() and int(index) < len(items):
                return items[int(index)]
            return unresolved("Fn::Select")
        if fn == "Fn::Split":
            return str(self.resolve(stack, arg[1])).split(str(arg[0]))
        if fn == "Fn::Base64":
            return base64.b64encode(str(self.resolve(stack, arg)).encode()).decode()
        if fn == "Fn::ImportValue":
            name = self.resolve(stack, arg)
            exported = self.model.exports.get(str(name))
            return self.resolve(exported[0], exported[1]) if exported else unresolved(f"Fn::ImportValue:{name}")
        if fn.startswith("Fn::"):
            return unresolved(fn)
        return {fn: self.resolve(stack, arg)}

    def _ref(self, stack: str, name: str) -> Any:
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack,
                  "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{stack}/local"}
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::NoValue":
            return None
        key = qid(stack, name)
        if "Ref" in self.attributes.get(key, {}):
            return self.attributes[key]["Ref"]
        parameter = (self.model.stacks[stack].template.get("Parameters") or {}).get(name)
        if parameter is not None and "Default" in parameter:
            if str(parameter.get("Type", "")).startswith(SSM_PARAMETER_TYPE):
                # CloudFormation resolves it from SSM when the stack deploys: the parameter another stack defines.
                return self._ssm_parameter(str(parameter["Default"]))
            return parameter["Default"]
        return unresolved(f"Ref:{name}")

    def _ssm_parameter(self, name: str) -> Any:
        for other in self.model.stacks.values():
            for _lid, props in other.of_type("AWS::SSM::Parameter"):
                if self.resolve(other.name, props.get("Name")) == name:
                    return self.resolve(other.name, props.get("Value"))
        return unresolved(f"SSM:{name}")

    def _get_att(self, stack: str, lid: str, attr: str) -> str:
        value = self.attributes.get(qid(stack, lid), {}).get(attr)
        return value if value is not None else unresolved(f"Fn::GetAtt:{lid}.{attr}")

    def _sub(self, stack: str, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(stack, variables[name]))
            if "." in name and not name.startswith("AWS::"):
                lid, attr = name.split(".", 1)
                return self._get_att(stack, lid, attr)
            return str(self._ref(stack, name))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))
