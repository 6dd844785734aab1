"""POST /assets: add an asset to a module (course staff); appended last unless order_index is given."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.assets.schemas import AssetCreateRequest, AssetOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_asset_service

FUNCTION = function("lms-assets-create")
app = make_resolver()


@route(app, FUNCTION, status_code=201, response_model=AssetOut, errors=(400, 403, 404))
def create_asset(body: Annotated[AssetCreateRequest, Body()]) -> AssetOut:
    return AssetOut.of(get_asset_service().create_asset(principal(app), body.model_dump()))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
