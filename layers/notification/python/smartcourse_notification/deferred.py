"""The notification use cases as handlers get them: imported at init, the service module only on the first call.

The service module brings SQLAlchemy and the repository (~150 ms of a cold start on a small machine), which a
handler's init must not pay for (``smartcourse.deferred``; primed before a SnapStart snapshot).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from smartcourse.deferred import defer

if TYPE_CHECKING:
    from smartcourse.principal import Principal

    from smartcourse_notification.rendering import Rendered, TemplateSpec
    from smartcourse_notification.service import NotificationService

defer("smartcourse_notification.service", "smartcourse.db.engine")


def get_notification_service() -> NotificationService:
    from smartcourse_notification.service import get_notification_service as get

    return get()


def list_templates(caller: Principal) -> list[TemplateSpec]:
    from smartcourse_notification.service import list_templates as run

    return run(caller)


def preview_template(caller: Principal, name: str, context: Mapping[str, Any] | None) -> Rendered:
    from smartcourse_notification.service import preview_template as run

    return run(caller, name, context)
