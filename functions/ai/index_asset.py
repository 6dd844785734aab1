"""SQS worker: indexes one asset per message (read, chunk, embed, store); partial batch responses.

A job whose run is not committed yet comes back in a few seconds; a job of a replaced run is dropped; any
other failure is retried by SQS, and on the message's last receive the asset is recorded as failed (so its
course's run still ends) before SQS moves the message to the dead-letter queue.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from smartcourse.observability import logger, observed
from smartcourse.settings import get_settings
from smartcourse_ai.aws import retry_soon
from smartcourse_ai.catalogue import function
from smartcourse_ai.indexing.jobs import IndexJob, RunNotCommitted, StaleJob
from smartcourse_ai.service import get_indexer

FUNCTION = function("ai-index-asset")
RETRY_SOON_SECONDS = 3
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
indexer = get_indexer()


def record_handler(record: SQSRecord, lambda_context: Any = None) -> None:
    job = IndexJob.from_json(record.body)
    receives = int(record.attributes.approximate_receive_count or 1)
    try:
        status = indexer.run_job(job, last_attempt=receives >= get_settings().trigger_queue_max_receives)
    except StaleJob as exc:
        logger.info("index job dropped", extra={"reason": str(exc)})
        return
    except RunNotCommitted:
        # Its own trigger queue: without this the job would wait out the queue's visibility timeout (18 min).
        queue_url = get_settings().trigger_queue_url
        if queue_url:
            retry_soon(queue_url, record.receipt_handle, RETRY_SOON_SECONDS)
        raise
    logger.info("asset indexed", extra={"asset_id": str(job.asset_id), "status": status and status.value})


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                         context=context))
