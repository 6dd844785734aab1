"""Use cases of learning assets and their article content. Each opens its own unit(s) of work; handlers call these.

Visibility and staff checks are the courses service's (``CourseService._readable`` / ``_staffed``): an asset
is visible exactly when its course is. The content rules (upload request, editor document) are the pure
functions of ``smartcourse_lms.learning.content``; the bytes go to and come from S3 through ``smartcourse.storage``
and never through the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smartcourse import storage
from smartcourse.db.unit_of_work import UnitOfWork
from smartcourse.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Forbidden,
    InvalidContent,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from smartcourse.pagination import DEFAULT_LIMIT
from sqlalchemy import Connection

from smartcourse_lms.assets import repository as repo
from smartcourse_lms.assets.quiz import CONTENT_TYPE as QUIZ_CONTENT_TYPE
from smartcourse_lms.assets.quiz import SaveQuizRequest, quiz_description, quiz_document
from smartcourse_lms.assets.repository import AssetRecord
from smartcourse_lms.auth.domain import ANONYMOUS, Principal
from smartcourse_lms.courses import repository as courses_repo
from smartcourse_lms.courses.repository import CourseRecord, ModuleRecord
from smartcourse_lms.courses.service import MODULE_NOT_FOUND, CourseService, Page, _not_null, _utc_now
from smartcourse_lms.learning.content import (
    EDITOR_SCHEMA,
    check_document,
    check_upload_request,
    content_key,
    sha256_hex,
)
from smartcourse_lms.learning.courses import AssetStatus, AssetType, CourseStatus, is_staff

ASSET_NOT_FOUND = "Asset not found"
NOT_UPLOADED = "The content has not been uploaded"
NO_CONTENT_ACCESS = "Only the course's staff and enrolled students may read the content"
NOT_READY = "The content is not ready"
ARTICLE_ONLY = "Only article assets take uploaded content"
ARCHIVED = "The course is archived; nothing can be added to it"
MAX_REPORTED_PROBLEMS = 500  # a hostile document can break the schema ~100k times; the answer stays small


@dataclass(frozen=True)
class ContentConfig:
    bucket: str | None
    upload_ttl_seconds: int = 600
    download_ttl_seconds: int = 600
    max_bytes: int = 2 * 1024 * 1024


@dataclass(frozen=True)
class UploadTicket:
    asset_id: uuid.UUID
    upload_url: str
    expires_in: int
    required_headers: dict[str, str]


@dataclass(frozen=True)
class ContentLink:
    asset: AssetRecord
    content_url: str
    expires_in: int | None


def _article_only(asset: AssetRecord) -> None:
    if asset.asset_type != AssetType.ARTICLE.value:
        raise ValidationFailed(ARTICLE_ONLY, [{"loc": ["path", "asset_id"], "msg": "not an article asset",
                                               "type": "value_error"}])


def _initial_status(asset_type: str, source_url: str | None) -> AssetStatus:
    """Non-article assets with a source URL are ready at once; articles wait for their uploaded content."""
    if asset_type != AssetType.ARTICLE.value and source_url:
        return AssetStatus.READY
    return AssetStatus.DRAFT


class AssetService:
    def __init__(self, unit_of_work: Callable[[], UnitOfWork], content: ContentConfig, *,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self._uow = unit_of_work
        self._content = content
        self._clock = clock

    # --- loading with visibility -------------------------------------------------------------------------

    @property
    def _bucket(self) -> str:
        if not self._content.bucket:
            raise RuntimeError("CONTENT_BUCKET is not configured for this function")
        return self._content.bucket

    # Rights on an asset are those on its module's course: one rule, kept in the courses service.
    _module_for = staticmethod(CourseService._module_for)

    @classmethod
    def _asset_for(cls, conn: Connection, actor: Principal, asset_id: uuid.UUID, *,
                   staff: bool) -> tuple[AssetRecord, ModuleRecord, CourseRecord]:
        """The asset with its module and course; 404 when the course is invisible, 403 when not staff.

        With ``staff`` the course row is locked first, then the asset row (one lock order everywhere).
        """
        asset = repo.get_asset(conn, asset_id)
        if asset is None:
            raise NotFound(ASSET_NOT_FOUND)
        try:
            module, course = cls._module_for(conn, actor, asset.module_id, staff=staff)
        except NotFound:
            raise NotFound(ASSET_NOT_FOUND) from None
        if staff:
            asset = repo.get_asset(conn, asset_id, for_update=True)
            if asset is None:
                raise NotFound(ASSET_NOT_FOUND)
        return asset, module, course

    @staticmethod
    def _may_read_content(conn: Connection, actor: Principal, course: CourseRecord) -> bool:
        if is_staff(course.instructor_id, actor):
            return True
        return actor != ANONYMOUS and repo.has_content_access(conn, actor.user_id, course.id)

    def _download_url(self, course: CourseRecord, asset: AssetRecord) -> str:
        return storage.presign_get(self._bucket, content_key(course.id, asset.module_id, asset.id),
                                   self._content.download_ttl_seconds)

    # --- assets ------------------------------------------------------------------------------------------

    def create_asset(self, actor: Principal, data: Mapping[str, Any]) -> AssetRecord:
        now = self._clock()
        with self._uow() as uow:
            asset = self._add_asset(uow.connection, actor, data, uuid.uuid4(), now)
            uow.commit()
        return asset

    @classmethod
    def _add_asset(cls, conn: Connection, actor: Principal, data: Mapping[str, Any], asset_id: uuid.UUID,
                   now: datetime, content: Mapping[str, Any] | None = None) -> AssetRecord:
        """The create-asset rules inside the caller's transaction: staff of the module's course, appended last
        unless ``order_index`` is given, the initial status. ``content``: size/hash columns of stored content."""
        module, _ = cls._module_for(conn, actor, data["module_id"], staff=True)  # locks the course row
        order_index = data.get("order_index")
        if order_index is None:
            order_index = repo.next_order_index(conn, module.id)
        source_url = data.get("source_url")
        repo.insert_asset(conn, {
            "id": asset_id, "module_id": module.id, "title": data["title"],
            "description": data.get("description"), "asset_type": data["asset_type"], "source_url": source_url,
            "order_index": order_index, "duration_seconds": data.get("duration_seconds"),
            "status": _initial_status(data["asset_type"], source_url).value, "created_at": now,
            "updated_at": now, **(content or {}),
        })
        asset = repo.get_asset(conn, asset_id)
        assert asset is not None
        return asset

    def list_assets(self, actor: Principal, module_id: uuid.UUID, *, limit: int = DEFAULT_LIMIT,
                    offset: int = 0) -> Page[AssetRecord]:
        with self._uow() as uow:
            conn = uow.connection
            self._module_for(conn, actor, module_id, staff=False)
            items, total = repo.list_assets(conn, module_id, limit=limit, offset=offset)
        return Page(items, total, limit, offset)

    def get_asset(self, actor: Principal, asset_id: uuid.UUID) -> tuple[AssetRecord, str | None]:
        """The asset and, for a ready article read by staff or an enrolled student, a presigned content URL."""
        with self._uow() as uow:
            conn = uow.connection
            asset, _, course = self._asset_for(conn, actor, asset_id, staff=False)
            show_content = (asset.asset_type == AssetType.ARTICLE.value and asset.status == AssetStatus.READY.value
                            and self._may_read_content(conn, actor, course))
        return asset, self._download_url(course, asset) if show_content else None

    def update_asset(self, actor: Principal, asset_id: uuid.UUID, changes: Mapping[str, Any]) -> AssetRecord:
        _not_null(changes, "title", "asset_type", "order_index")
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            asset, _, _ = self._asset_for(conn, actor, asset_id, staff=True)
            values = dict(changes)
            new_type = values.get("asset_type", asset.asset_type)
            if new_type != AssetType.ARTICLE.value:
                values["status"] = _initial_status(new_type, values.get("source_url", asset.source_url)).value
            elif asset.asset_type != AssetType.ARTICLE.value:
                values["status"] = AssetStatus.DRAFT.value  # became an article: its content is still to come
            if new_type != asset.asset_type:
                values.update(size_bytes=None, content_hash=None, validation_error=None)
            if changes:
                repo.update_asset(conn, asset_id, values, now)
            result = repo.get_asset(conn, asset_id)
            uow.commit()
        assert result is not None
        return result

    def delete_asset(self, actor: Principal, asset_id: uuid.UUID) -> None:
        with self._uow() as uow:
            conn = uow.connection
            self._asset_for(conn, actor, asset_id, staff=True)
            repo.delete_asset(conn, asset_id)
            uow.commit()

    # --- article content ---------------------------------------------------------------------------------

    def request_upload(self, actor: Principal, asset_id: uuid.UUID, content_type: str,
                       size_bytes: int) -> UploadTicket:
        """A presigned PUT pinned to the declared type and size; the asset waits for it (``upload_pending``)."""
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            asset, _, course = self._asset_for(conn, actor, asset_id, staff=True)
            _article_only(asset)
            check_upload_request(content_type, size_bytes)
            ttl = self._content.upload_ttl_seconds
            url, headers = storage.presign_put(self._bucket, content_key(course.id, asset.module_id, asset.id),
                                               content_type, size_bytes, ttl)
            repo.update_asset(conn, asset_id, {"status": AssetStatus.UPLOAD_PENDING.value,
                                               "validation_error": None}, now)
            uow.commit()
        return UploadTicket(asset_id=asset_id, upload_url=url, expires_in=ttl, required_headers=headers)

    def complete_upload(self, actor: Principal, asset_id: uuid.UUID) -> AssetRecord:
        """Check the uploaded object; ``ready`` with its size, hash and a new version, or ``rejected`` and an error.

        The object is read outside any transaction (no row lock is held during the S3 call); the outcome is
        then stored under the locks, after the caller's rights are checked again.
        """
        with self._uow() as uow:
            asset, _, course = self._asset_for(uow.connection, actor, asset_id, staff=False)
            if not is_staff(course.instructor_id, actor):
                raise Forbidden("Only the course's instructor or an admin may do this")
            _article_only(asset)
        key = content_key(course.id, asset.module_id, asset.id)
        failure: DomainError | None = None
        data = b""
        try:
            data = storage.read(self._bucket, key, self._content.max_bytes)
        except storage.ObjectNotFound:
            raise NotFound(NOT_UPLOADED) from None
        except storage.ObjectTooLarge:
            failure = PayloadTooLarge(f"Content is larger than {self._content.max_bytes} bytes")
        if failure is None:
            try:
                problems = check_document(data)
            except (BadRequest, PayloadTooLarge) as error:
                failure = error
            else:
                if problems:
                    failure = _invalid(problems)
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            current, _, _ = self._asset_for(conn, actor, asset_id, staff=True)
            _article_only(current)
            if failure is not None:
                repo.update_asset(conn, asset_id, {"status": AssetStatus.REJECTED.value,
                                                   "validation_error": failure.message}, now)
                uow.commit()
                raise failure
            repo.update_asset(conn, asset_id, {
                "status": AssetStatus.READY.value, "size_bytes": len(data), "content_hash": sha256_hex(data),
                "content_version": current.content_version + 1, "validation_error": None}, now)
            result = repo.get_asset(conn, asset_id)
            uow.commit()
        assert result is not None
        return result

    # --- generated quizzes (internal: the AI service invokes lms-assets-save-quiz) ---------------------------

    @staticmethod
    def _quiz_target(conn: Connection, actor: Principal, course_id: uuid.UUID,
                     module_id: uuid.UUID) -> tuple[CourseRecord, ModuleRecord]:
        """The course (locked) and the module a quiz goes to, under the API's rules.

        404 for a course the actor cannot see, 403 when it is visible but not theirs (``is_staff``), 404 for a
        module that is not the course's, 409 for an archived course (nothing is added to it any more)."""
        course = CourseService._staffed(conn, actor, course_id)
        module = courses_repo.get_module(conn, module_id)
        if module is None or module.course_id != course.id:
            raise NotFound(MODULE_NOT_FOUND)
        if course.status == CourseStatus.ARCHIVED.value:
            raise Conflict(ARCHIVED)
        return course, module

    def save_quiz(self, request: SaveQuizRequest) -> AssetRecord:
        """Store a generated quiz as a ``quiz`` asset at the end of the module, its document in the content bucket.

        Like ``complete_upload``, no row lock is held during the S3 call: the rules are checked first (nothing
        is written when they refuse), the document is written under the new asset's content key, then the asset
        is created through the create-asset rules after the rules are checked again under the course lock. If
        that last step fails, an object no asset points to is left behind (harmless; never served).

        The asset stays ``draft``: in the LMS model ``ready`` for a non-article asset means "open its
        ``source_url``" (``_initial_status``, recomputed by ``update_asset``; ``content_link`` hands the URL
        out), and a quiz has none. Its ``size_bytes``/``content_hash`` (SHA-256) and ``content_version`` 1
        record the stored document, as ``complete_upload`` does for articles. Serving the quiz (without its
        answer keys to learners) is left to a later change.
        """
        actor = request.actor.principal()
        asset_id = uuid.uuid4()
        with self._uow() as uow:
            self._quiz_target(uow.connection, actor, request.course_id, request.module_id)
        data = quiz_document(request, asset_id)
        storage.put(self._bucket, content_key(request.course_id, request.module_id, asset_id), data,
                    QUIZ_CONTENT_TYPE)
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            _, module = self._quiz_target(conn, actor, request.course_id, request.module_id)
            asset = self._add_asset(conn, actor, {
                "module_id": module.id, "title": request.title, "description": quiz_description(request.quiz),
                "asset_type": AssetType.QUIZ.value,
            }, asset_id, now, content={"size_bytes": len(data), "content_hash": sha256_hex(data),
                                       "content_version": 1})
            uow.commit()
        return asset

    def content_link(self, actor: Principal, asset_id: uuid.UUID) -> ContentLink:
        """Where staff and enrolled students read the content: a presigned GET (articles) or the source URL."""
        with self._uow() as uow:
            conn = uow.connection
            asset, _, course = self._asset_for(conn, actor, asset_id, staff=False)
            if not self._may_read_content(conn, actor, course):
                raise Forbidden(NO_CONTENT_ACCESS)
        if asset.status != AssetStatus.READY.value:
            raise Forbidden(NOT_READY)
        if asset.asset_type != AssetType.ARTICLE.value:
            assert asset.source_url is not None  # a ready non-article asset has one
            return ContentLink(asset, asset.source_url, None)
        return ContentLink(asset, self._download_url(course, asset), self._content.download_ttl_seconds)


def _invalid(problems: list[Any]) -> InvalidContent:
    shown = problems[:MAX_REPORTED_PROBLEMS]
    listing = "; ".join(str(p) for p in shown)
    if len(problems) > len(shown):
        listing += f"; and {len(problems) - len(shown)} more"
    return InvalidContent(f"Content does not match {EDITOR_SCHEMA} ({len(problems)} problems): {listing}",
                          [p.to_dict() for p in shown])


def asset_service_from_settings() -> AssetService:
    from smartcourse.db.engine import get_engine
    from smartcourse.db.unit_of_work import unit_of_work_factory
    from smartcourse.settings import get_settings

    settings = get_settings()
    return AssetService(unit_of_work_factory(get_engine), ContentConfig(
        bucket=settings.content_bucket, upload_ttl_seconds=settings.content_upload_url_ttl_seconds,
        download_ttl_seconds=settings.content_download_url_ttl_seconds, max_bytes=settings.content_max_bytes))


_service: AssetService | None = None


def get_asset_service() -> AssetService:
    """The process-wide service (built on first request, reused by warm invocations)."""
    global _service
    if _service is None:
        _service = asset_service_from_settings()
    return _service
