"""POST /assets/{asset_id}/content/upload-url: a presigned S3 PUT for an article's content (course staff)."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.assets.schemas import UploadUrlOut, UploadUrlRequest
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_asset_service

FUNCTION = function("lms-assets-upload-url")
app = make_resolver()


@route(app, FUNCTION, response_model=UploadUrlOut, errors=(400, 403, 404, 413),
       description="The upload must be a PUT of exactly `size_bytes` bytes carrying `required_headers`; "
                   "then call `/content/complete`. The asset is `upload_pending` until then.")
def request_upload_url(asset_id: uuid.UUID, body: Annotated[UploadUrlRequest, Body()]) -> UploadUrlOut:
    ticket = get_asset_service().request_upload(principal(app), asset_id, body.content_type, body.size_bytes)
    return UploadUrlOut(asset_id=ticket.asset_id, upload_url=ticket.upload_url, expires_in=ticket.expires_in,
                        required_headers=ticket.required_headers)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
