"""The two layers every service stack's functions run with: third-party dependencies and the shared code.

Each service stack builds its own layer versions (same assets, so no extra
upload): a layer version ARN changes with every code change, and a
cross-stack reference to it would block the update of the exporting stack.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from smartcourse.catalogue import Service

from stacks import assets
from stacks.stage_config import StageConfig


def service_layers(stack: Stack, *, config: StageConfig, service: Service,
                   local: bool = False) -> tuple[lambda_.LayerVersion, lambda_.LayerVersion]:
    """(dependencies layer, shared layer) in ``stack``; ``local`` stages a placeholder dependencies layer."""
    dependencies = lambda_.LayerVersion(
        stack, "DependenciesLayer",
        layer_version_name=config.resource_name(f"{service}-dependencies"),
        description="Third-party packages from requirements/runtime.lock (manylinux aarch64, CPython 3.12)",
        code=assets.dependencies_layer_code(placeholder=local),
        compatible_runtimes=[assets.RUNTIME],
        compatible_architectures=[assets.ARCHITECTURE],
    )
    shared = lambda_.LayerVersion(
        stack, "SharedLayer",
        layer_version_name=config.resource_name(f"{service}-shared"),
        description="smartcourse (domain, adapters, settings) and smartcourse_events (event contracts)",
        code=assets.shared_layer_code(),
        compatible_runtimes=[assets.RUNTIME],
        compatible_architectures=[assets.ARCHITECTURE],
    )
    for layer, kind in ((dependencies, "dependencies"), (shared, "shared")):
        cfn_layer = layer.node.default_child
        assert isinstance(cfn_layer, lambda_.CfnLayerVersion)
        cfn_layer.add_metadata(assets.LAYER_METADATA_KEY, kind)
    return dependencies, shared
