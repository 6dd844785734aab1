"""Domain errors. The service layer raises them; ``smartcourse.http`` maps them to HTTP in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller may see; ``str(error)`` is safe to show to the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(DomainError):
    pass


class Unauthorized(DomainError):
    pass


class Forbidden(DomainError):
    pass


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class ValidationFailed(DomainError):
    """Well-formed input that breaks a business rule checked beyond the request model."""

    def __init__(self, message: str, problems: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class Throttled(DomainError):
    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(DomainError):
    """A dependency (another service, a model provider) did not answer: 503, try again after a while."""

    def __init__(self, message: str, retry_after_seconds: int = 5) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class PayloadTooLarge(DomainError):
    """Content above a size limit (413)."""


class InvalidContent(BadRequest):
    """Uploaded content that breaks its schema (400); ``problems`` lists each one with its JSON path."""

    def __init__(self, message: str, problems: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.problems = problems
