"""GET /assets/by-module/{module_id}: the module's assets ordered by order_index (readers; paginated)."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, optional_principal, route
from smartcourse_lms.assets.schemas import AssetOut, AssetPageOut
from smartcourse_lms.assets.service import get_asset_service
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import MAX_OFFSET

FUNCTION = function("lms-assets-list-by-module")
app = make_resolver()


@route(app, FUNCTION, response_model=AssetPageOut, errors=(404,))
def list_assets(
    module_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AssetPageOut:
    page = get_asset_service().list_assets(optional_principal(app), module_id, limit=limit, offset=offset)
    return AssetPageOut(items=[AssetOut.of(a) for a in page.items], total=page.total, limit=page.limit,
                        offset=page.offset)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
