"""POST /assets/{asset_id}/content/complete: validate the uploaded article content (course staff)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.assets.schemas import AssetOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_asset_service

FUNCTION = function("lms-assets-complete-upload")
app = make_resolver()


@route(app, FUNCTION, response_model=AssetOut, errors=(400, 403, 404, 413),
       description="404 when nothing was uploaded (the asset stays as it was); 413 above 2 MiB; 400 for "
                   "content that is not JSON or breaks the editor schema (`problems` lists each one with its "
                   "JSON path). Any failure leaves the asset `rejected` with `validation_error`; success makes "
                   "it `ready` with `size_bytes`, `content_hash` (SHA-256) and the next `content_version`.")
def complete_upload(asset_id: uuid.UUID) -> AssetOut:
    return AssetOut.of(get_asset_service().complete_upload(principal(app), asset_id))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
