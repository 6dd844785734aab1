"""Custom resource (CDK Provider framework): the event topics on the Kafka cluster.

MSK Serverless has no CloudFormation resource for topics. On Create/Update the
missing topics are created with their partition count; existing topics are left
as they are (idempotent: a rerun or a concurrent create is harmless). Delete
keeps the topics: they hold the event history, and the cluster itself goes with
the shared stack.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from smartcourse.observability import observed

log = logging.getLogger(__name__)
PHYSICAL_ID = "smartcourse-kafka-topics"
DEFAULT_REPLICATION = -1  # the cluster's default (MSK Serverless fixes it at 3)


def ensure_topics(admin: Any, wanted: Mapping[str, int], replication_factor: int = DEFAULT_REPLICATION) -> list[str]:
    """Create the topics of ``wanted`` (name -> partitions) that do not exist; returns those created."""
    from kafka.errors import TopicAlreadyExistsError

    existing = set(admin.list_topics())
    missing = {name: {"num_partitions": partitions, "replication_factor": replication_factor}
               for name, partitions in sorted(wanted.items()) if name not in existing}
    if missing:
        # Another deploy may create the same topic between the listing and this call.
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(missing)
    return sorted(missing)


def wanted_topics(properties: Mapping[str, Any]) -> dict[str, int]:
    """``ResourceProperties.Topics`` ([{Name, Partitions}]; CloudFormation passes numbers as strings)."""
    return {str(t["Name"]): int(t["Partitions"]) for t in properties.get("Topics") or []}


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from smartcourse.kafka_client import make_admin

    physical_id = str(event.get("PhysicalResourceId") or PHYSICAL_ID)
    if event.get("RequestType") == "Delete":
        return {"PhysicalResourceId": physical_id}
    properties = event.get("ResourceProperties") or {}
    wanted = wanted_topics(properties)
    # KAFKA_AUTH=iam on MSK: SASL_SSL + OAUTHBEARER tokens from the MSK IAM signer (smartcourse.kafka_client).
    admin = make_admin(client_id=PHYSICAL_ID)
    try:
        created = ensure_topics(admin, wanted, int(properties.get("ReplicationFactor", DEFAULT_REPLICATION)))
    finally:
        admin.close()
    log.info("topics wanted %s, created %s", sorted(wanted), created)
    return {"PhysicalResourceId": physical_id, "Data": {"Created": ",".join(created)}}
