"""GET /progress/assets/{asset_id}/enrollment/{enrollment_id}: progress on one asset (learner, course staff)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service
from smartcourse_lms.enrollments.schemas import AssetProgressOut

FUNCTION = function("lms-progress-get-asset")
app = make_resolver()


@route(app, FUNCTION, response_model=AssetProgressOut, errors=(404,))
def get_asset_progress(asset_id: uuid.UUID, enrollment_id: uuid.UUID) -> AssetProgressOut:
    return AssetProgressOut.of(get_enrollment_service().get_asset_progress(principal(app), asset_id, enrollment_id))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
