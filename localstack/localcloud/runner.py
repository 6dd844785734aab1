"""The local Lambda + API Gateway runner: serves a synthesized cloud assembly on this machine.

    runner = LocalCloudRunner(cdk_out, ports={"lms": 8000}, overrides={"AWS_ENDPOINT_URL": ...},
                              state_dir=Path(".localcloud/runner"))
    runner.start()   # provision, then serve every REST API and drive mappings and schedules
    runner.urls      # {"lms": "http://127.0.0.1:8000", ...}
    runner.lambda_url  # Lambda's Invoke API (functions get it as AWS_ENDPOINT_URL_LAMBDA)
    runner.stats()   # per function: invocations, cold starts, init and duration figures, workers
    runner.stop()

``python -m localcloud.runner --cdk-out cdk.out`` runs it in the foreground
against the stand-ins named by AWS_ENDPOINT_URL / KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from localcloud.gateway import Gateway, GatewayServer
from localcloud.lambda_api import LambdaApi, LambdaApiServer
from localcloud.mappings import KafkaPoller, MappingStats, Scheduler, SqsPoller
from localcloud.provision import UNRESOLVED, LocalResources
from localcloud.template import Authorizer, CloudTemplate, LambdaFunction, load
from localcloud.workers import (
    DEFAULT_IDLE_TTL_SECONDS,
    DEFAULT_MAX_CONCURRENCY,
    FunctionSpec,
    InvokeResult,
    WorkerManager,
    build_environment,
)

log = logging.getLogger("localcloud.runner")

LOCAL_HOST = "127.0.0.1"
# In a function's environment only when it is the database admin (the migrate function): it keeps the admin URL.
ADMIN_DATABASE_MARKER = "DB_SERVICE_SECRET_ARNS"


# Workers of each authorizer function started with the runner and kept (prod gives the authorizer this much
# provisioned concurrency): every request waits for it, so under a burst it must not wait for a cold start too.
AUTHORIZER_WARM_WORKERS = 2


def _warm_pool(authorizer: Authorizer) -> dict[str, Any]:
    """An authorizer's warm workers, each warmed up by one call with a token that is not one (denied)."""
    arn = "arn:aws:execute-api:us-east-1:000000000000:warm-up/local/GET/"
    event = {"type": "TOKEN", "methodArn": arn, "authorizationToken": "Bearer warm-up"} \
        if authorizer.type == "TOKEN" else \
        {"type": "REQUEST", "methodArn": arn, "resource": "/", "path": "/", "httpMethod": "GET",
         "headers": {"Authorization": "Bearer warm-up"}, "multiValueHeaders": {"Authorization": ["Bearer warm-up"]},
         "queryStringParameters": None, "pathParameters": None, "stageVariables": None,
         "requestContext": {"httpMethod": "GET", "stage": "local", "requestId": "warm-up"}}
    return {"warm_workers": AUTHORIZER_WARM_WORKERS, "warm_event": json.dumps(event).encode()}


class FunctionError(RuntimeError):
    """A direct invocation failed; ``error`` is Lambda's error object (errorMessage, errorType, stackTrace)."""

    def __init__(self, function: str, error: Any) -> None:
        message = error.get("errorMessage") if isinstance(error, dict) else error
        kind = error.get("errorType") if isinstance(error, dict) else "Error"
        super().__init__(f"{function}: {kind}: {message}")
        self.function = function
        self.error = error


class LocalCloudRunner:
    """Serve ``cdk_out``'s REST APIs and drive its functions' triggers.

    ``ports`` maps an API's service (the last dash-separated part of its Name,
    ``smartcourse-dev-lms`` -> ``lms``) to a port; unlisted APIs or port 0 get a
    free port. ``overrides`` are environment variables set for every function
    (after the template's own); AWS_ENDPOINT_URL, KAFKA_BOOTSTRAP_SERVERS and
    AWS_REGION among them also tell the runner where to provision. DATABASE_URL
    is a server URL: a function whose template environment has DB_NAME gets
    ``<DATABASE_URL>/<DB_NAME>``. With ``database_credentials``
    (``{"smartcourse_lms": ("smartcourse_lms", pw)}``), it connects as the user and
    password given for its DB_NAME: each function as its own service's role; the
    migrate function (its environment has DB_SERVICE_SECRET_ARNS) keeps DATABASE_URL's
    own (admin) user, and a function without DB_NAME gets no DATABASE_URL. Lambda's
    Invoke API is served on ``lambda_port`` (0: a free port) and every function gets
    it as AWS_ENDPOINT_URL_LAMBDA, so Lambda-to-Lambda calls stay local.
    """

    def __init__(self, cdk_out: Path, ports: dict[str, int] | None = None, overrides: dict[str, str] | None = None,
                 state_dir: Path | None = None, *, host: str = LOCAL_HOST, python: str = sys.executable,
                 max_concurrency: int = DEFAULT_MAX_CONCURRENCY, idle_ttl: float = DEFAULT_IDLE_TTL_SECONDS,
                 schedule_interval_override_seconds: float | None = None, log_dir: Path | None = None,
                 lambda_port: int = 0, database_credentials: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.cdk_out = Path(cdk_out)
        self.ports = dict(ports or {})
        self.overrides = dict(overrides or {})
        self.database_credentials = dict(database_credentials or {})
        self.state_dir = Path(state_dir) if state_dir else self.cdk_out.parent / ".localcloud-runner"
        self.host = host
        self.python = python
        self.max_concurrency = max_concurrency
        self.idle_ttl = idle_ttl
        if schedule_interval_override_seconds is None and os.environ.get("LOCALCLOUD_SCHEDULE_INTERVAL_SECONDS"):
            schedule_interval_override_seconds = float(os.environ["LOCALCLOUD_SCHEDULE_INTERVAL_SECONDS"])
        self.schedule_interval_override = schedule_interval_override_seconds
        self.log_dir = log_dir or self.state_dir / "logs"
        self.region = self._setting("AWS_REGION") or "us-east-1"
        self.model: CloudTemplate | None = None
        self.resources: LocalResources | None = None
        self.functions: WorkerManager | None = None
        self.servers: dict[str, GatewayServer] = {}
        self.lambda_port = lambda_port
        self.lambda_server: LambdaApiServer | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._mapping_stats: dict[str, MappingStats] = {}
        self._scheduler: Scheduler | None = None
        self._unresolved: dict[tuple[str, str], list[str]] = {}  # (variable, placeholder) -> functions

    def _setting(self, name: str) -> str | None:
        return self.overrides.get(name) or os.environ.get(name) or None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        model = self.model = load(self.cdk_out)
        log.info("template: %d function(s), %d API(s), %d mapping(s), %d schedule(s)", len(model.functions),
                 len(model.apis), len(model.mappings), len(model.schedules))
        resources = self.resources = LocalResources(
            model, self.state_dir, region=self.region, aws_endpoint=self._setting("AWS_ENDPOINT_URL"),
            kafka_bootstrap=self._setting("KAFKA_BOOTSTRAP_SERVERS"))
        resources.provision()
        # Bound before the workers' environments are built: they carry its URL.
        lambda_api = LambdaApi({resources.function_name(fn): key for key, fn in model.functions.items()},
                               self.region)
        self.lambda_server = LambdaApiServer(lambda_api, self.host, self.lambda_port)
        authorizers = {route.authorizer.function: route.authorizer for api in model.apis.values()
                       for route in api.routes if route.authorizer is not None}
        functions = self.functions = WorkerManager([self._spec(fn, authorizers.get(key))
                                                    for key, fn in model.functions.items()],
                                                   python=self.python, log_dir=self.log_dir, idle_ttl=self.idle_ttl)
        functions.start()
        for (key, value), names in sorted(self._unresolved.items()):
            # Harmless when the code prefers a local setting (DB_SECRET_ARN next to DATABASE_URL, say).
            log.warning("%s has no local value (%s) in %d function(s): %s", key, value, len(names),
                        ", ".join(names[:5]) + (", ..." if len(names) > 5 else ""))
        lambda_api.attach(functions)
        self.lambda_server.start()
        log.info("Lambda Invoke API on %s", self.lambda_server.url)
        for api in model.apis.values():
            port = self.ports.get(api.service, 0)
            if api.service in self.servers:
                log.warning("two APIs for service %r: %s gets a free port", api.service, api.name)
                port = 0
            gateway = Gateway(api, functions, api_id=resources.attributes[api.qid]["Ref"], region=self.region,
                              stats=self.stats)
            server = GatewayServer(gateway, self.host, port)
            server.start()
            self.servers[api.service if api.service not in self.servers else api.name] = server
            log.info("API %s (%s) on %s", api.name, api.service, server.url)
        self._start_mappings(model, functions, resources)
        if model.schedules:
            self._scheduler = Scheduler(list(model.schedules.values()), functions, resources, self._stopping,
                                        self.schedule_interval_override)
            self._scheduler.start()
            self._threads.append(self._scheduler)

    def _spec(self, fn: LambdaFunction, authorizer: Authorizer | None = None) -> FunctionSpec:
        assert self.resources is not None
        name = self.resources.function_name(fn)
        overrides = dict(self.overrides)
        if self.lambda_server is not None:
            overrides.setdefault("AWS_ENDPOINT_URL_LAMBDA", self.lambda_server.url)
        template_env = self.resources.environment(fn)
        for key, value in template_env.items():
            if UNRESOLVED in value and key not in overrides:
                self._unresolved.setdefault((key, value), []).append(fn.name)
        server = self.database_server_url(fn.name, template_env)
        if server is None:
            overrides.pop("DATABASE_URL", None)
        else:
            overrides["DATABASE_URL"] = server
        env = build_environment(template_env=template_env, overrides=overrides,
                                function_name=name, handler=fn.handler, code_dir=fn.code_dir,
                                layer_dirs=fn.layer_dirs, memory_mb=fn.memory_mb, region=self.region)
        concurrency = min(self.max_concurrency, fn.reserved_concurrency or self.max_concurrency)
        return FunctionSpec(key=fn.qid, name=fn.name, function_name=name, arn=self.resources.function_arn(fn),
                            handler=fn.handler, code_dir=fn.code_dir, layer_dirs=fn.layer_dirs, environment=env,
                            timeout=float(fn.timeout), memory_mb=fn.memory_mb, max_concurrency=max(1, concurrency),
                            **(_warm_pool(authorizer) if authorizer is not None else {}))

    def database_server_url(self, function: str, template_env: Mapping[str, str]) -> str | None:
        """The DATABASE_URL server a function gets (``build_environment`` appends its DB_NAME); None: none.

        Without ``database_credentials``: DATABASE_URL as it is. With them: the role of the function's
        DB_NAME; the admin URL for the migrate function (DB_SERVICE_SECRET_ARNS), as the master secret in
        AWS; nothing for a function with no database (no DB_NAME), which has no database access in AWS either.
        """
        server, database = self.overrides.get("DATABASE_URL"), template_env.get("DB_NAME")
        if not server or not self.database_credentials or ADMIN_DATABASE_MARKER in template_env:
            return server
        if not database:
            return None
        credentials = self.database_credentials.get(database)
        if credentials is None:
            # Fail closed: in AWS such a function could not log in either (no role, no secret for it).
            known = sorted(self.database_credentials)
            raise ValueError(f"{function}: no database role for {database} (roles: {known})")
        from sqlalchemy import make_url

        user, password = credentials
        return make_url(server).set(username=user, password=password).render_as_string(hide_password=False)

    def _start_mappings(self, model: CloudTemplate, functions: WorkerManager, resources: LocalResources) -> None:
        kafka = self._setting("KAFKA_BOOTSTRAP_SERVERS")
        for mapping in model.mappings.values():
            if not mapping.enabled:
                continue
            fn_name = model.functions[mapping.function].name
            poller: threading.Thread
            if mapping.kind == "sqs" and mapping.queue is not None:
                if not resources.aws_endpoint:
                    continue
                stats = MappingStats("sqs", fn_name, resources.queue_arn(mapping.queue))
                poller = SqsPoller(mapping, functions, resources, stats, self._stopping)
            elif mapping.kind == "kafka" and kafka:
                stack = mapping.qid.partition("/")[0]
                arn = resources.resolve(stack, mapping.event_source_arn)
                arn = arn if isinstance(arn, str) and UNRESOLVED not in arn else None
                stats = MappingStats("kafka", fn_name, ",".join(mapping.topics))
                poller = KafkaPoller(mapping, functions, kafka, arn, stats, self._stopping)
            else:
                log.warning("mapping %s not started (no %s configured)", mapping.qid, mapping.kind)
                continue
            self._mapping_stats[mapping.qid] = stats
            poller.start()
            self._threads.append(poller)

    def stop(self) -> None:
        self._stopping.set()
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
        if self.lambda_server is not None:
            self.lambda_server.stop()
            self.lambda_server = None
        for thread in self._threads:
            thread.join(10)
        self._threads.clear()
        if self.functions is not None:
            self.functions.stop()
            self.functions = None

    # ------------------------------------------------------------------ introspection

    @property
    def urls(self) -> dict[str, str]:
        return {service: server.url for service, server in self.servers.items()}

    @property
    def lambda_url(self) -> str | None:
        return self.lambda_server.url if self.lambda_server is not None else None

    def function_key(self, name: str) -> str:
        """The template key of a function given its catalogue name (``smartcourse:function``) or logical id."""
        assert self.model is not None
        for key, fn in self.model.functions.items():
            if name in (fn.name, key, key.partition("/")[2]):
                return key
        raise KeyError(name)

    def function_environment(self, name: str) -> dict[str, str]:
        """The resolved environment a function's workers get (benchmarks run handlers in-process with it)."""
        assert self.functions is not None, "runner not started"
        return dict(self.functions.pools[self.function_key(name)].spec.environment)

    def wait_warm(self, timeout: float = 60) -> bool:
        """Wait for the warm pools (the authorizers'): their warm-up invocations are done once this returns True."""
        assert self.functions is not None, "runner not started"
        return self.functions.wait_warm(timeout)

    def invoke(self, name: str, event: Any) -> Any:
        """Invoke a function synchronously by catalogue name and return its result (as ``lambda invoke`` would).

        Raises :class:`FunctionError` carrying Lambda's error object when the function fails or times out.
        """
        result = self.invoke_result(name, event)
        if not result.ok:
            raise FunctionError(name, result.payload)
        return result.payload

    def invoke_result(self, name: str, event: Any) -> InvokeResult:
        """Like :meth:`invoke`, but the whole :class:`InvokeResult` (timings, error flags), never raising."""
        assert self.functions is not None, "runner not started"
        return self.functions.invoke(self.function_key(name), event)

    def stats(self) -> dict[str, Any]:
        apis = {}
        for service, server in self.servers.items():
            gateway = server.gateway
            overhead = sorted(gateway.overhead_ms)
            apis[service] = {
                "url": server.url, "requests": gateway.requests,
                "overhead_ms_p50": round(overhead[len(overhead) // 2], 3) if overhead else None,
                "overhead_ms_p95": round(overhead[int(len(overhead) * 0.95)], 3) if overhead else None,
            }
        return {
            "functions": self.functions.stats() if self.functions else {},
            "apis": apis,
            "mappings": {key: s.as_dict() for key, s in self._mapping_stats.items()},
            "schedules": dict(self._scheduler.fired) if self._scheduler else {},
            "cpu_slots": self.functions.cpu_slot_stats() if self.functions else {},
            "lambda": {"url": self.lambda_url,
                       **(self.lambda_server.api.stats() if self.lambda_server is not None else {})},
        }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python is chatty at INFO
    parser = argparse.ArgumentParser(prog="localcloud.runner", description=__doc__.splitlines()[0])
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"))
    parser.add_argument("--port", action="append", default=[], metavar="SERVICE=PORT",
                        help="e.g. lms=8000 (repeatable; others get a free port)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment override for every function (repeatable)")
    parser.add_argument("--state-dir", type=Path, default=Path(".localcloud/runner"))
    parser.add_argument("--schedule-interval", type=float, default=None,
                        help="fire every schedule every N seconds instead of its expression")
    parser.add_argument("--db-roles", type=Path, default=None, metavar="FILE",
                        help="the local cloud's db-roles.json: each function connects as its service's role")
    args = parser.parse_args(argv)
    ports = {k: int(v) for k, v in (p.split("=", 1) for p in args.port)}
    overrides = {k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
                 if os.environ.get(k)}
    overrides.update(dict(e.split("=", 1) for e in args.env))
    credentials: dict[str, tuple[str, str]] = {}
    if args.db_roles:
        from smartcourse.db.names import database_name, role_name

        passwords = json.loads(args.db_roles.read_text())
        credentials = {database_name(service): (role_name(service), password)
                       for service, password in passwords.items()}
    runner = LocalCloudRunner(args.cdk_out, ports, overrides, args.state_dir,
                              schedule_interval_override_seconds=args.schedule_interval,
                              database_credentials=credentials)
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    runner.start()
    try:
        for service, url in runner.urls.items():
            print(f"  {service:<10} {url}", flush=True)
        print(f"  {'lambda':<10} {runner.lambda_url}", flush=True)
        stopping.wait()
    finally:
        runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
