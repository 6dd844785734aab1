"""The runner's test app: two REST APIs, an authorizer, SQS + Kafka mappings, a schedule, secrets, a bucket.

``synth(outdir)`` builds the cloud assembly the runner tests read. Code is a
plain asset (no bundling), with the same template metadata the real stacks add.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

HERE = Path(__file__).resolve().parent
KAFKA_TOPIC = "runner-test.events"
MSK_CLUSTER_ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/runner-test/11111111-2222-3333-4444-555555555555-1"
SCHEDULE_INPUT = {"job": "nightly-report", "source": "runner-test"}


class RunnerTestStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(account="123456789012", region="us-east-1"))
        code = lambda_.Code.from_asset(str(HERE / "functions"))
        shared = lambda_.LayerVersion(self, "SharedLayer", code=lambda_.Code.from_asset(str(HERE / "layer")))
        deps = lambda_.LayerVersion(self, "DepsLayer", code=lambda_.Code.from_asset(str(HERE / "deps_layer")))
        for layer, kind in ((shared, "shared"), (deps, "dependencies")):
            layer.node.default_child.add_metadata("smartcourse:layer", kind)  # type: ignore[union-attr]

        secret = secretsmanager.Secret(self, "PlainSecret", generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=40, exclude_punctuation=True))
        db_secret = secretsmanager.Secret(self, "DbSecret", generate_secret_string=secretsmanager.SecretStringGenerator(
            secret_string_template=json.dumps({"username": "app"}), generate_string_key="password",
            exclude_characters="/@\" "))
        bucket = s3.Bucket(self, "Uploads")
        dlq = sqs.Queue(self, "JobsDlq")
        # Long enough that a batch is deleted before it shows again (a cold worker, a busy machine); short for retries.
        jobs = sqs.Queue(self, "Jobs", visibility_timeout=cdk.Duration.seconds(6),
                         dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=2, queue=dlq))

        def fn(name: str, module: str, timeout: int = 3, env: dict[str, str] | None = None,
               function_name: str | None = None) -> lambda_.Function:
            function = lambda_.Function(
                self, name.title().replace("-", ""), runtime=lambda_.Runtime.PYTHON_3_12, code=code,
                handler=f"{module}.handler", timeout=cdk.Duration.seconds(timeout), memory_size=256,
                layers=[shared, deps], environment=env or {}, function_name=function_name,
            )
            function.node.default_child.add_metadata("smartcourse:function", name)  # type: ignore[union-attr]
            return function

        echo = fn("test-echo", "echo", env={
            "SECRET_ARN": secret.secret_arn, "DB_SECRET_ARN": db_secret.secret_arn, "BUCKET": bucket.bucket_name,
            "QUEUE_URL": jobs.queue_url, "DB_NAME": "runner_test_db",
            "UNKNOWN_REF": cdk.Fn.ref("SomethingElse"),
        })
        sleepy = fn("test-sleepy", "sleepy", timeout=2)
        spin = fn("test-spin", "spin", timeout=20)  # CPU-bound, like password hashing (runner fairness)
        big = fn("test-big", "big")
        failing = fn("test-failing", "failing")
        authorizer_fn = fn("test-authorizer", "authorizer")
        sqs_consumer = fn("test-sqs-consumer", "sqs_consumer", timeout=1)
        kafka_consumer = fn("test-kafka-consumer", "kafka_consumer")
        scheduled = fn("test-scheduled", "scheduled")
        # Lambda -> Lambda through the runner's Invoke API, by name (Ref) and by ARN (GetAtt).
        fn("test-invoker", "invoker", timeout=10, env={
            "TARGET_FUNCTION": echo.function_name, "TARGET_ARN": echo.function_arn})
        # A physical name unlike its catalogue name: callers must use the physical one.
        fn("test-recorder", "recorder", timeout=10, function_name="runner-test-recorder")
        # A resource the runner does not model: references to it resolve to an explicit placeholder.
        cdk.CfnResource(self, "SomethingElse", type="AWS::CloudFormation::WaitConditionHandle")

        sqs_consumer.add_event_source(sources.SqsEventSource(jobs, batch_size=5, report_batch_item_failures=True))
        kafka_consumer.add_event_source(sources.ManagedKafkaEventSource(
            cluster_arn=MSK_CLUSTER_ARN, topic=KAFKA_TOPIC, batch_size=10,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON))

        role = iam.Role(self, "SchedulerRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
        scheduled.grant_invoke(role)
        scheduler.CfnSchedule(self, "Nightly", schedule_expression="rate(1 minute)",
                              flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                              target=scheduler.CfnSchedule.TargetProperty(
                                  arn=scheduled.function_arn, role_arn=role.role_arn,
                                  input=json.dumps(SCHEDULE_INPUT)))

        api = apigw.RestApi(self, "LmsApi", rest_api_name="smartcourse-test-lms",
                            deploy_options=apigw.StageOptions(stage_name="test"),
                            binary_media_types=["application/octet-stream", "image/*"], cloud_watch_role=False)
        api.add_gateway_response("NotFound", type=apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
                                 status_code="404", templates={"application/json": '{"message": "Not Found"}'})
        authorizer = apigw.RequestAuthorizer(self, "Authorizer", handler=authorizer_fn,
                                             identity_sources=[apigw.IdentitySource.header("Authorization")],
                                             results_cache_ttl=cdk.Duration.seconds(60))
        integ = apigw.LambdaIntegration
        v1 = api.root.add_resource("v1")
        echo_res = v1.add_resource("echo")
        echo_res.add_method("GET", integ(echo))
        echo_res.add_method("POST", integ(echo))
        item = v1.add_resource("items").add_resource("{item_id}")
        item.add_method("ANY", integ(echo))
        item.add_resource("fixed").add_method("GET", integ(echo))
        v1.add_resource("files").add_resource("{proxy+}").add_method("GET", integ(echo))
        private = v1.add_resource("private")
        for method in ("GET", "POST"):
            private.add_method(method, integ(echo), authorizer=authorizer,
                               authorization_type=apigw.AuthorizationType.CUSTOM)
        v1.add_resource("sleep").add_method("GET", integ(sleepy))
        v1.add_resource("spin").add_method("GET", integ(spin))
        v1.add_resource("big").add_method("GET", integ(big))
        v1.add_resource("fail").add_method("GET", integ(failing))
        cors = v1.add_resource("cors")
        cors.add_method("GET", integ(echo))
        cors.add_cors_preflight(allow_origins=["*"], allow_methods=["GET"])

        admin = apigw.RestApi(self, "AdminApi", rest_api_name="smartcourse-test-admin",
                              deploy_options=apigw.StageOptions(stage_name="test"), cloud_watch_role=False)
        admin.root.add_resource("ping").add_method("GET", integ(echo))


def synth(outdir: Path) -> Path:
    # Asset metadata (aws:asset:path) is what `cdk synth` adds; the runner also copes without it.
    app = cdk.App(outdir=str(outdir), context={"aws:cdk:enable-asset-metadata": True})
    RunnerTestStack(app, "RunnerTestStack")
    app.synth()
    return outdir


if __name__ == "__main__":
    import sys

    synth(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out.runner-test"))
