"""Text that PostgreSQL and JSON can both hold: no NUL character, no unpaired UTF-16 surrogate.

PostgreSQL refuses NUL in text (a 500 if it reached the database) and a lone surrogate cannot be encoded
as UTF-8; both are refused as validation errors (422) at the edge instead.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def check_clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain unpaired surrogates") from None
    return value


def check_not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


CleanText = Annotated[str, AfterValidator(check_clean_text)]
# Free text that must say something (a search query, a question): not only whitespace.
NonBlankText = Annotated[str, AfterValidator(check_clean_text), AfterValidator(check_not_blank)]
