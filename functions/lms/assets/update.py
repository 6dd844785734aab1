"""PUT and PATCH /assets/{asset_id}: partial update by course staff (two functions, this one module)."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.assets.schemas import AssetOut, AssetUpdateRequest
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_asset_service

FUNCTIONS = (function("lms-assets-put"), function("lms-assets-patch"))
app = make_resolver()


def update_asset(asset_id: uuid.UUID, body: Annotated[AssetUpdateRequest, Body()]) -> AssetOut:
    return AssetOut.of(get_asset_service().update_asset(principal(app), asset_id, body.changes()))


for _fn in FUNCTIONS:
    route(app, _fn, response_model=AssetOut, errors=(400, 403, 404))(update_asset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
