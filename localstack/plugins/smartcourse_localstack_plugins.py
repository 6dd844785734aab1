"""LocalStack plugins of the local cloud, loaded by LocalStack's own interpreter (``.venv-localstack``).

Found through the ``*.dist-info/entry_points.txt`` beside this module: ``localcloud.services.LocalStackService``
puts this directory on the LocalStack process's ``PYTHONPATH``; nothing is installed into its virtualenv.

``dynamodb:moto``: LocalStack's own DynamoDB provider runs DynamoDB Local, a Java program it downloads at first
use (with a Java 21 runtime). That download cannot happen offline, and DynamoDB Local's licence is not an
open-source one, so DynamoDB is served by the moto bundled in LocalStack instead (``PROVIDER_OVERRIDE_DYNAMODB=moto``):
every operation falls through to moto, as LocalStack already does for the operations its providers lack.
"""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import Service, ServiceLifecycleHook, aws_provider


class MotoDynamoDBProvider(DynamodbApi, ServiceLifecycleHook):
    """No operation of its own: LocalStack's moto fallback serves each one."""


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    from localstack.services.moto import MotoFallbackDispatcher

    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher)
