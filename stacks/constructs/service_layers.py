"""The two layers a service's functions run with: its third-party dependencies and its code.

Each layer is the service's own: the dependency layer is built from the service's lock
(``requirements/<service>.lock``, its dependency group of ``pyproject.toml``), so an LMS function never
ships the AI's model runtime or the analytics' charting libraries; the code layer holds the platform
core, the event contracts and the service's package, nothing of another service.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_

from stacks import assets
from stacks.stage_config import StageConfig

DEPENDENCIES = "dependencies"
CODE = "code"


def service_layers(stack: Stack, *, config: StageConfig, layer: str,
                   local: bool = False) -> tuple[lambda_.LayerVersion, lambda_.LayerVersion]:
    """(dependencies layer, code layer) of ``layer`` (a service, or ``platform``) in ``stack``.

    ``local`` stages a placeholder dependencies layer: the local runner uses the project virtualenv.
    """
    dependencies = lambda_.LayerVersion(
        stack, "DependenciesLayer",
        layer_version_name=config.resource_name(f"{layer}-dependencies"),
        description=f"Third-party packages of {layer} from requirements/{layer}.lock (manylinux aarch64, CPython 3.12)",
        code=assets.dependencies_layer_code(layer, placeholder=local),
        compatible_runtimes=[assets.RUNTIME],
        compatible_architectures=[assets.ARCHITECTURE],
    )
    code = lambda_.LayerVersion(
        stack, "CodeLayer",
        layer_version_name=config.resource_name(f"{layer}-code"),
        description=f"smartcourse (platform core), smartcourse_events and the {layer} package(s)",
        code=assets.code_layer_code(layer),
        compatible_runtimes=[assets.RUNTIME],
        compatible_architectures=[assets.ARCHITECTURE],
    )
    for version, kind in ((dependencies, DEPENDENCIES), (code, CODE)):
        cfn_layer = version.node.default_child
        assert isinstance(cfn_layer, lambda_.CfnLayerVersion)
        cfn_layer.add_metadata(assets.LAYER_METADATA_KEY, kind)
        cfn_layer.add_metadata(assets.LAYER_OWNER_METADATA_KEY, layer)
    return dependencies, code
