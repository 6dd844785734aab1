"""Public links to API routes that more than one service builds (a notification mail links to the LMS API or
the analytics API).

The route is defined here once: the LMS catalogue declares ``lms-certificates-verify`` with it, the LMS writes
it into certificate documents, and the notification service puts it in the completion mail. Pure, no I/O.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

API_PREFIX = "/api/v1"  # the routes of a service API live under it
# GET, open to anyone, on the LMS API (under API_PREFIX): is this certificate serial genuine?
CERTIFICATE_VERIFY_PATH = "/certificates/verify/{serial_no}"


def certificate_verify_url(base_url: str, serial_no: str) -> str:
    """The public verification link of a certificate; ``base_url`` is the LMS API's root (``PUBLIC_BASE_URL``)."""
    path = CERTIFICATE_VERIFY_PATH.format(serial_no=quote(serial_no, safe=""))
    return f"{base_url.rstrip('/')}{API_PREFIX}{path}"


# GET, the report's owner (bearer token), on the analytics API (under API_PREFIX): the report with a freshly
# presigned download_url. Messages link here, never to a presigned URL (it would expire, and it is a credential).
ANALYTICS_REPORT_PATH = "/analytics/reports/{report_id}"


def analytics_report_url(base_url: str, report_id: uuid.UUID | str) -> str:
    """The link to one report on the analytics API; ``base_url`` is that API's root (``ANALYTICS_BASE_URL``)."""
    path = ANALYTICS_REPORT_PATH.format(report_id=quote(str(report_id), safe=""))
    return f"{base_url.rstrip('/')}{API_PREFIX}{path}"
