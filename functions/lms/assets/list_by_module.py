"""GET /assets/by-module/{module_id}: the module's assets ordered by order_index (readers; paginated)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, optional_principal, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_lms.assets.schemas import AssetOut, AssetPageOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_asset_service

FUNCTION = function("lms-assets-list-by-module")
app = make_resolver()


@route(app, FUNCTION, response_model=AssetPageOut, errors=(404,))
def list_assets(
    module_id: uuid.UUID,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> AssetPageOut:
    page = get_asset_service().list_assets(optional_principal(app), module_id, limit=limit, offset=offset)
    return AssetPageOut(items=[AssetOut.of(a) for a in page.items], total=page.total, limit=page.limit,
                        offset=page.offset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
