"""One service's API Gateway REST API, built from the catalogue.

Every route of every function becomes a Lambda proxy integration, behind the
shared REQUEST authorizer when ``route.authorized``. Gateway-generated errors
(no token, denied, unknown route, too large, timeouts) get the API's error
shape ``{"detail": "..."}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct
from smartcourse import catalogue

from stacks import nag
from stacks.stage_config import StageConfig

AUTHORIZATION_HEADER = "Authorization"

# (response type, status, detail); None keeps the gateway's own status / message.
GATEWAY_RESPONSES: tuple[tuple[apigw.ResponseType, str | None, str | None], ...] = (
    (apigw.ResponseType.UNAUTHORIZED, "401", "Not authenticated"),
    (apigw.ResponseType.ACCESS_DENIED, "403", "Forbidden"),
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "Not Found"),  # what API Gateway says to unknown routes
    (apigw.ResponseType.REQUEST_TOO_LARGE, "413", "Request entity too large"),
    (apigw.ResponseType.THROTTLED, "429", "Too many requests"),
    (apigw.ResponseType.INTEGRATION_TIMEOUT, "504", "Gateway timeout"),
    (apigw.ResponseType.DEFAULT_4_XX, None, None),
    (apigw.ResponseType.DEFAULT_5_XX, None, "Internal server error"),
)

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integration.latency",
    "principalId": "$context.authorizer.principalId",
    "authorizerError": "$context.authorizer.error",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "xrayTraceId": "$context.xrayTraceId",
}


def _detail_template(detail: str | None) -> str:
    if detail is None:
        return '{"detail": $context.error.messageString}'  # messageString is already a quoted JSON string
    return json.dumps({"detail": detail})


class ServiceApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        service: catalogue.Service,
        functions: Sequence[tuple[catalogue.Function, lambda_.IFunction]],
        authorizer_handler: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        api_name = config.resource_name(str(service))
        self.api_name = api_name
        self.authorizer_cache_ttl_seconds = config.authorizer_cache_ttl_seconds
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", log_group_name=f"/aws/apigateway/{api_name}/access",
            retention=config.log_retention, removal_policy=config.removal_policy,
        )
        self.api = apigw.RestApi(
            self, "Api",
            rest_api_name=api_name,
            description=f"SmartCourse {service} API ({config.name})",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,  # the shared stack owns the regional API Gateway logging role
            deploy=True,
            deploy_options=apigw.StageOptions(
                stage_name=config.name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                logging_level=apigw.MethodLoggingLevel(config.api_logging_level),
                data_trace_enabled=False,  # bodies hold passwords and tokens
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=config.throttle_rate_limit,
                throttling_burst_limit=config.throttle_burst_limit,
            ),
        )
        self.validator = self.api.add_request_validator(
            "RequestValidator", validate_request_parameters=True, validate_request_body=True,
        )
        # Built on first use: API Gateway refuses an authorizer no method uses (an API of public routes only).
        self._authorizer_handler = authorizer_handler
        self._authorizers: dict[bool, apigw.RequestAuthorizer] = {}
        for response_type, status, detail in GATEWAY_RESPONSES:
            self.api.add_gateway_response(
                f"Response{response_type.response_type.replace('_', '')}",
                type=response_type,
                status_code=status,
                templates={"application/json": _detail_template(detail)},
                response_headers={"Content-Type": "'application/json'"}
                | ({"WWW-Authenticate": "'Bearer'"} if response_type == apigw.ResponseType.UNAUTHORIZED else {}),
            )

        self.methods: dict[tuple[str, str], apigw.Method] = {}
        for spec, handler in functions:
            integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False)
            for route in spec.routes:
                self._add_route(route, integration)

        if config.waf:
            self._web_acl(config, api_name)
        else:
            nag.suppress(self.api, "AwsSolutions-APIG3",
                         f"Stage {config.name} has no WAF (cost); staging and prod attach a managed-rules web ACL.")
        nag.suppress(self.api, "AwsSolutions-COG4",
                     "Authentication is the project's own JWT (Secrets Manager key) checked by a Lambda REQUEST "
                     "authorizer; there is no Cognito user pool by design.")
        if config.alarms:
            self._alarms(api_name)

    def request_authorizer(self, *, optional: bool = False) -> apigw.RequestAuthorizer:
        """The API's REQUEST authorizer (cached per Authorization header), or its optional twin.

        The optional one is for routes open to anyone: no identity source, so API Gateway invokes it even
        without a token (and therefore cannot cache its result); it passes an anonymous principal then.
        """
        if optional not in self._authorizers:
            self._authorizers[optional] = apigw.RequestAuthorizer(
                self, "OptionalAuthorizer" if optional else "Authorizer",
                authorizer_name=f"{self.api_name}-jwt" + ("-optional" if optional else ""),
                handler=self._authorizer_handler,
                identity_sources=[] if optional else [apigw.IdentitySource.header(AUTHORIZATION_HEADER)],
                results_cache_ttl=Duration.seconds(0 if optional else self.authorizer_cache_ttl_seconds),
            )
        return self._authorizers[optional]

    def _add_route(self, route: catalogue.HttpRoute, integration: apigw.Integration) -> None:
        resource = self.api.root.resource_for_path(route.path)
        method_key = (route.method.upper(), route.path)
        if method_key in self.methods:
            raise ValueError(f"route {route.method} {route.path} is declared twice in the catalogue")
        if route.authorized:
            authorizer = self.request_authorizer(optional=route.anonymous)
            method = resource.add_method(route.method.upper(), integration, authorizer=authorizer,
                                         authorization_type=apigw.AuthorizationType.CUSTOM,
                                         request_validator=self.validator)
        else:
            method = resource.add_method(route.method.upper(), integration,
                                         authorization_type=apigw.AuthorizationType.NONE,
                                         request_validator=self.validator)
            nag.suppress(method, "AwsSolutions-APIG4",
                         f"{route.method} {route.path} is public by the API contract (docs/spec/api.md).")
        self.methods[method_key] = method

    def _web_acl(self, config: StageConfig, api_name: str) -> None:
        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True,
            )

        def managed(name: str, priority: int,
                    overrides: Sequence[str] = ()) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
                            )
                            for rule in overrides
                        ] or None,
                    ),
                ),
                visibility_config=visibility(name),
            )

        acl = wafv2.CfnWebACL(
            self, "WebAcl",
            name=f"{api_name}-acl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility(f"{api_name}-acl"),
            rules=[
                # Bodies above 8 KB are legitimate for some routes; API Gateway caps them at 10 MB anyway.
                managed("AWSManagedRulesCommonRuleSet", 0, overrides=("SizeRestrictions_BODY",)),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 1),
                wafv2.CfnWebACL.RuleProperty(
                    name="RateLimitPerIp",
                    priority=2,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=2000, aggregate_key_type="IP",
                        ),
                    ),
                    visibility_config=visibility("RateLimitPerIp"),
                ),
            ],
        )
        association = wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.api.deployment_stage.stage_arn, web_acl_arn=acl.attr_arn,
        )
        association.node.add_dependency(self.api.deployment_stage)

    def _alarms(self, api_name: str) -> None:
        stage = self.api.deployment_stage
        self.server_errors_alarm = cloudwatch.Alarm(
            self, "ServerErrorsAlarm",
            alarm_name=f"{api_name}-5xx",
            alarm_description=f"{api_name}: 5XX responses",
            metric=stage.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
            threshold=5,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.latency_alarm = cloudwatch.Alarm(
            self, "LatencyP95Alarm",
            alarm_name=f"{api_name}-latency-p95",
            alarm_description=f"{api_name}: p95 latency above 3 s",
            metric=stage.metric_latency(period=Duration.minutes(5), statistic="p95"),
            threshold=3000,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    @property
    def routes(self) -> Mapping[tuple[str, str], apigw.Method]:
        return self.methods
