"""The notification service's vocabularies: channels, categories, send statuses.

Pure (no third-party import): the tables, and so the deploy-time migrate function, whose layer holds only
the core's packages, import these without pulling the template engine in.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    IN_APP = "in_app"


class Category(StrEnum):
    # Sent whatever the preferences say: account mail, and the answer to something the user asked for (the
    # report they requested).
    TRANSACTIONAL = "transactional"
    COURSE_UPDATES = "course_updates"
    PROGRESS = "progress"
    MARKETING = "marketing"
    NUDGES = "nudges"  # an instructor's nudge to an at-risk learner
    REPORTS = "reports"  # scheduled report digests (weekly instructor digest, daily platform report)


class SendStatus(StrEnum):
    """Where one planned send stands in the sender's at-most-once ledger (the ``sends`` table)."""

    QUEUED = "queued"  # planned, waiting for the sender
    SENDING = "sending"  # claimed; a provider call may be under way
    SENT = "sent"
    FAILED = "failed"  # given up (last attempt, or a permanent error)
    SKIPPED = "skipped"  # nothing to send (preferences, opted out, token no longer valid)
    UNKNOWN = "unknown"  # a claim was found unfinished: it may or may not have been delivered, never retried
