"""Text that PostgreSQL and JSON can both hold: no NUL character, no unpaired UTF-16 surrogate.

PostgreSQL refuses NUL in text (a 500 if it reached the database) and a lone surrogate cannot be encoded
as UTF-8; both are refused as validation errors (422) at the edge instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

UNCLEAN_TEXT = "must not contain NUL characters or unpaired surrogates"


def text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates"
    return None


def check_clean_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def unclean_text_at(value: Any, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where in a decoded JSON value a string (or an object's key) is not clean text; None when all are.

    Every API applies this to each request's parameters and JSON body (``smartcourse.http``), so no field
    of any schema can carry NUL into PostgreSQL, whatever its declared type.
    """
    if isinstance(value, str):
        return loc if text_problem(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and text_problem(key):
                return loc
            found = unclean_text_at(item, (*loc, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = unclean_text_at(item, (*loc, index))
            if found is not None:
                return found
    return None


def check_not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


CleanText = Annotated[str, AfterValidator(check_clean_text)]
# Free text that must say something (a search query, a question): not only whitespace.
NonBlankText = Annotated[str, AfterValidator(check_clean_text), AfterValidator(check_not_blank)]
