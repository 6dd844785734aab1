"""SQS worker: builds one queued report per message (HTML with SVG charts, or CSV) into the reports bucket and
writes ``report.ready``; partial batch responses.

A message whose report row is not committed yet comes back in a few seconds (on its last receive it is dropped:
the request rolled back). Any other failure is retried by SQS; on the message's last receive the report is
marked failed (its owner sees why) before SQS moves the message to the dead-letter queue. A redelivered message
for a report that is ready or failed does nothing.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from smartcourse.observability import logger, observed
from smartcourse.settings import get_settings
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.report_queue import report_id_of, retry_soon
from smartcourse_analytics.reports import ReportNotCommitted, get_reports

FUNCTION = function("analytics-build-report")
RETRY_SOON_SECONDS = 3
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
reports = get_reports()


def record_handler(record: SQSRecord, lambda_context: Any = None) -> None:
    try:
        report_id = report_id_of(record.body)
    except (ValueError, KeyError, TypeError):
        logger.warning("report build message dropped: not a report id")  # no retry can make it one
        return
    last = int(record.attributes.approximate_receive_count or 1) >= get_settings().trigger_queue_max_receives
    try:
        outcome = reports.build(report_id, last_attempt=last)
    except ReportNotCommitted:
        if last:
            logger.warning("report build dropped: no such report", extra={"report_id": str(report_id)})
            return
        retry_soon(record.receipt_handle, RETRY_SOON_SECONDS)
        raise
    logger.info("report build", extra={"report_id": str(report_id), "status": outcome.status,
                                       "built": outcome.built})


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                         context=context))
