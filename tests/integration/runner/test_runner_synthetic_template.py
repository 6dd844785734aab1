"""A small hand-written two-stack assembly with what the event backbone's stacks add.

MSK Serverless + a bootstrap-brokers custom resource feeding KAFKA_BOOTSTRAP_SERVERS,
a topic custom resource, SQS queue + DLQ with an ESM, an MSK ESM, a schedule
targeting another stack's function, an SES identity, an SNS topic, and
cross-stack (Fn::ImportValue) queue and function references in environments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from localcloud.provision import UNRESOLVED, LocalResources
from localcloud.runner import LocalCloudRunner
from localcloud.template import load

pytestmark = pytest.mark.integration

HANDLER = '''
import os

def handler(event, context):
    return {k: v for k, v in os.environ.items() if k.isupper() and not k.startswith(("AWS_LAMBDA", "LAMBDA_"))}
'''


def _python_function(code: str, env: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"Runtime": "python3.12", "Handler": "env_dump.handler", "Timeout": 10,
                             "Code": {"S3Bucket": "assets", "S3Key": "code.zip"},
                             "Environment": {"Variables": env}}
    if name:
        props["FunctionName"] = name
    return {"Type": "AWS::Lambda::Function", "Properties": props, "Metadata": {"aws:asset:path": code}}


def write_assembly(root: Path) -> Path:
    cdk_out = root / "cdk.out"
    (cdk_out / "code").mkdir(parents=True)
    (cdk_out / "code" / "env_dump.py").write_text(HANDLER)
    (cdk_out / "node").mkdir()
    lms = {
        "Resources": {
            "TokenIssuer": _python_function("code", {}, "synth-token-issuer"),
            "OutboxPublisher": _python_function("code", {}, "synth-outbox-publisher"),
            "ConsumerDlq": {"Type": "AWS::SQS::Queue", "Properties": {}},
            # Another stack finds this value by the parameter's name (resolved when that stack deploys).
            "TokenIssuerParameter": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": "/synth/lms/token-issuer", "Type": "String", "Value": {"Ref": "TokenIssuer"}}},
        },
        "Outputs": {
            "TokenIssuerName": {"Value": {"Ref": "TokenIssuer"}, "Export": {"Name": "lms-TokenIssuerName"}},
            "TokenIssuerArn": {"Value": {"Fn::GetAtt": ["TokenIssuer", "Arn"]},
                               "Export": {"Name": "lms-TokenIssuerArn"}},
            "PublisherArn": {"Value": {"Fn::GetAtt": ["OutboxPublisher", "Arn"]},
                             "Export": {"Name": "lms-PublisherArn"}},
            "DlqUrl": {"Value": {"Ref": "ConsumerDlq"}, "Export": {"Name": "lms-ConsumerDlqUrl"}},
        },
    }
    consumer_env = {
        "KAFKA_BOOTSTRAP_SERVERS": {"Fn::GetAtt": ["BootstrapBrokers", "BootstrapBrokerStringSaslIam"]},
        "KAFKA_AUTH": "iam",
        "NOTIFICATION_QUEUE_URL": {"Ref": "SendQueue"},
        "SEND_QUEUE_ARN": {"Fn::GetAtt": ["SendQueue", "Arn"]},
        "SEND_QUEUE_NAME": {"Fn::GetAtt": ["SendQueue", "QueueName"]},
        "SEND_QUEUE_URL": {"Fn::GetAtt": ["SendQueue", "QueueUrl"]},
        "CONSUMER_DLQ_URL": {"Fn::ImportValue": "lms-ConsumerDlqUrl"},
        "TOKEN_ISSUER_FUNCTION": {"Fn::ImportValue": "lms-TokenIssuerName"},
        "TOKEN_ISSUER_ARN": {"Fn::ImportValue": "lms-TokenIssuerArn"},
        "MAIL_IDENTITY": {"Ref": "MailIdentity"},
        "ALARM_TOPIC_ARN": {"Ref": "Alarms"},
        "CLUSTER_ARN": {"Fn::GetAtt": ["Cluster", "Arn"]},
        "TOPICS_READY": {"Fn::GetAtt": ["Topics", "Ready"]},
        "OUT_OF_RANGE": {"Fn::Select": [5, ["only-one"]]},
        "CONDITIONAL": {"Fn::If": ["IsProd", "a", "b"]},
        "MALFORMED": {"Fn::GetAtt": ["Cluster", "Arn", "Extra"]},
        "JOINED_UNRESOLVED": {"Fn::Join": [",", {"Fn::GetAtt": ["BootstrapBrokers", "List"]}]},
        "OPTIONAL": {"Ref": "AWS::NoValue"},
        "FROM_SSM": {"Ref": "TokenIssuerFromSsm"},
        "MISSING_SSM": {"Ref": "NoSuchParameter"},
    }
    notification = {
        "Parameters": {
            "TokenIssuerFromSsm": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/synth/lms/token-issuer"},
            "NoSuchParameter": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/synth/none"},
        },
        "Resources": {
            "Cluster": {"Type": "AWS::MSK::ServerlessCluster", "Properties": {
                "ClusterName": "synth-events", "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}}},
            "ProviderFn": {"Type": "AWS::Lambda::Function", "Metadata": {"aws:asset:path": "node"},
                           "Properties": {"Runtime": "nodejs20.x", "Handler": "index.handler",
                                          "Code": {"S3Bucket": "assets", "S3Key": "node.zip"}}},
            "BootstrapBrokers": {"Type": "Custom::AWS", "Properties": {
                "ServiceToken": {"Fn::GetAtt": ["ProviderFn", "Arn"]},
                "Create": json.dumps({"service": "Kafka", "action": "getBootstrapBrokers"})}},
            "Topics": {"Type": "AWS::CloudFormation::CustomResource", "Properties": {
                "ServiceToken": {"Fn::GetAtt": ["ProviderFn", "Arn"]}, "Topics": ["synth.user-events"]}},
            "SendDlq": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "SendQueue": {"Type": "AWS::SQS::Queue", "Properties": {
                "VisibilityTimeout": 30,
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["SendDlq", "Arn"]}, "maxReceiveCount": 3}}},
            "MailIdentity": {"Type": "AWS::SES::EmailIdentity", "Properties": {"EmailIdentity": "synth.local"}},
            "Alarms": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Consumer": _python_function("code", consumer_env),
            "Sender": _python_function("code", {"NOTIFICATION_QUEUE_URL": {"Ref": "SendQueue"}}),
            "KafkaMapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
                "FunctionName": {"Ref": "Consumer"}, "EventSourceArn": {"Ref": "Cluster"},
                "Topics": ["synth.user-events"], "StartingPosition": "TRIM_HORIZON",
                "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "synth-notification"}}},
            "SqsMapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
                "FunctionName": {"Ref": "Sender"}, "EventSourceArn": {"Fn::GetAtt": ["SendQueue", "Arn"]},
                "FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 5}},
            "Backstop": {"Type": "AWS::Scheduler::Schedule", "Properties": {
                "ScheduleExpression": "rate(1 minute)", "FlexibleTimeWindow": {"Mode": "OFF"},
                "Target": {"Arn": {"Fn::ImportValue": "lms-PublisherArn"}, "RoleArn": "arn:aws:iam::1:role/x"}}},
        },
    }
    artifacts = {}
    for name, template in (("SynthLms", lms), ("SynthNotification", notification)):
        (cdk_out / f"{name}.template.json").write_text(json.dumps(template))
        artifacts[name] = {"type": "aws:cloudformation:stack", "properties": {"templateFile": f"{name}.template.json"}}
    (cdk_out / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": artifacts}))
    return cdk_out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_assembly(tmp_path_factory.mktemp("synthetic"))


def test_the_model_skips_custom_resources_and_node_functions(synthetic: Path) -> None:
    model = load(synthetic)
    assert sorted(fn.qid for fn in model.functions.values()) == [
        "SynthLms/OutboxPublisher", "SynthLms/TokenIssuer", "SynthNotification/Consumer",
        "SynthNotification/Sender"]
    assert sorted(model.custom_resources) == ["SynthNotification/BootstrapBrokers", "SynthNotification/Topics"]
    kinds = {m.qid.partition("/")[2]: m for m in model.mappings.values()}
    assert kinds["KafkaMapping"].kind == "kafka" and kinds["KafkaMapping"].consumer_group_id == "synth-notification"
    assert kinds["SqsMapping"].kind == "sqs" and kinds["SqsMapping"].report_batch_item_failures
    assert kinds["SqsMapping"].queue == "SynthNotification/SendQueue"
    assert [s.function for s in model.schedules.values()] == ["SynthLms/OutboxPublisher"]
    assert model.email_identities == {"SynthNotification/MailIdentity": "synth.local"}
    assert list(model.topics) == ["SynthNotification/Alarms"] and model.kafka_topics == ["synth.user-events"]


def test_environment_resolves_what_it_can_and_never_raises(synthetic: Path, tmp_path: Path) -> None:
    resources = LocalResources(load(synthetic), tmp_path)  # no emulator: nothing is created, names still resolve
    env = resources.environment(resources.model.functions["SynthNotification/Consumer"])
    assert env["TOKEN_ISSUER_FUNCTION"] == "synth-token-issuer"
    assert env["TOKEN_ISSUER_ARN"] == "arn:aws:lambda:us-east-1:123456789012:function:synth-token-issuer"
    assert env["CLUSTER_ARN"].startswith("arn:aws:kafka:us-east-1:123456789012:cluster/synth-events/")
    assert env["MAIL_IDENTITY"] == "synth.local" and env["KAFKA_AUTH"] == "iam"
    assert env["FROM_SSM"] == "synth-token-issuer"  # an SSM parameter type: the other stack's parameter's value
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "TOPICS_READY", "OUT_OF_RANGE", "CONDITIONAL", "MALFORMED",
                "JOINED_UNRESOLVED", "MISSING_SSM"):
        assert env[key].startswith(UNRESOLVED), (key, env[key])
    assert "OPTIONAL" not in env


def test_provisioning_and_the_runner_on_the_synthetic_assembly(synthetic: Path, moto, kafka,
                                                               tmp_path: Path) -> None:
    overrides = {"AWS_ENDPOINT_URL": moto.endpoint, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                 "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5999"}
    runner = LocalCloudRunner(synthetic, overrides=overrides, state_dir=tmp_path / "state")
    runner.start()
    try:
        consumer = runner.invoke("Consumer", {})
        sqs = boto3.client("sqs")
        send_url, dlq_url = consumer["NOTIFICATION_QUEUE_URL"], consumer["CONSUMER_DLQ_URL"]
        assert consumer["SEND_QUEUE_NAME"] == send_url.rsplit("/", 1)[1] and consumer["SEND_QUEUE_URL"] == send_url
        attributes = sqs.get_queue_attributes(QueueUrl=send_url, AttributeNames=["All"])["Attributes"]
        assert attributes["QueueArn"] == consumer["SEND_QUEUE_ARN"]
        assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3
        assert sqs.get_queue_url(QueueName=dlq_url.rsplit("/", 1)[1])["QueueUrl"] == dlq_url  # the other stack's
        # The local override wins over the custom resource's unresolvable attribute.
        assert consumer["KAFKA_BOOTSTRAP_SERVERS"] == kafka.bootstrap
        assert consumer["TOKEN_ISSUER_FUNCTION"] == "synth-token-issuer"
        assert consumer["AWS_ENDPOINT_URL_LAMBDA"] == runner.lambda_url
        assert runner.invoke("Sender", {})["NOTIFICATION_QUEUE_URL"] == send_url
        ses = boto3.client("ses")
        assert "synth.local" in ses.list_identities()["Identities"]
        ses.send_email(Source="no-reply@synth.local", Destination={"ToAddresses": ["a@example.com"]},
                       Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}})  # the domain verifies it
        topics = [t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]]
        assert consumer["ALARM_TOPIC_ARN"] in topics
        mapping = runner.stats()["mappings"]
        assert {m["kind"] for m in mapping.values()} == {"kafka", "sqs"}
    finally:
        runner.stop()
    again = LocalResources(load(synthetic), tmp_path / "state", aws_endpoint=moto.endpoint,
                           kafka_bootstrap=kafka.bootstrap)
    again.provision()  # a restart provisions the same resources again without error
    assert again.queue_url("SynthNotification/SendQueue") == send_url
