"""GET /assets/{asset_id}: an asset (readers of its course); a ready article's content URL for staff and learners."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, optional_principal, route
from smartcourse.observability import observed
from smartcourse_lms.assets.schemas import AssetOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_asset_service

FUNCTION = function("lms-assets-get")
app = make_resolver()


@route(app, FUNCTION, response_model=AssetOut, errors=(404,))
def get_asset(asset_id: uuid.UUID) -> AssetOut:
    asset, content_url = get_asset_service().get_asset(optional_principal(app), asset_id)
    return AssetOut.of(asset, content_url)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
