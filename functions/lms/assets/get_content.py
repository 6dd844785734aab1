"""GET /assets/{asset_id}/content: where to read an asset's content (course staff, enrolled students)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.assets.schemas import ContentOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_asset_service

FUNCTION = function("lms-assets-get-content")
app = make_resolver()


@route(app, FUNCTION, response_model=ContentOut, errors=(403, 404),
       description="Articles: a presigned S3 GET valid `expires_in` seconds. Other assets: their `source_url` "
                   "(`expires_in` null). 403 for callers without an active or completed enrollment, and while "
                   "the content is not ready.")
def get_content(asset_id: uuid.UUID) -> ContentOut:
    link = get_asset_service().content_link(principal(app), asset_id)
    return ContentOut(id=link.asset.id, title=link.asset.title, asset_type=link.asset.asset_type,  # type: ignore[arg-type]
                      content_url=link.content_url, expires_in=link.expires_in)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
