"""SQS worker: delivers queued sends (email through SES, SMS through SNS, in-app) with partial batch responses."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from smartcourse.observability import correlation_scope, observed, sqs_record_correlation_id
from smartcourse_notification.catalogue import function
from smartcourse_notification.sender import (
    EARLY_RETRY_ERRORS,
    ensure_time_for_one_record,
    handle_record_body,
    retry_soon,
)

FUNCTION = function("notification-send")
# Always answer with batchItemFailures (also when every record failed): SQS retries exactly those.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord, lambda_context: Any = None) -> None:
    receive_count = int(record.attributes.approximate_receive_count or 1)
    # The correlation id of the event that planned this send (the consumer passes it on), for every log line.
    with correlation_scope(sqs_record_correlation_id(record.raw_event)):
        try:
            ensure_time_for_one_record(lambda_context)
            handle_record_body(record.body, receive_count)
        except EARLY_RETRY_ERRORS:
            retry_soon(record.event_source_arn, record.receipt_handle, receive_count)
            raise


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                         context=context))
