"""The demo data of the local cloud includes real article content: a published course's ready article whose
document is in the content bucket, readable by an enrolled student through the API."""

from __future__ import annotations

import hashlib
import json

import boto3
import httpx
import psycopg
import pytest
from localcloud.cloud import LocalCloud
from smartcourse_lms.seed import DEMO_ARTICLES, seed_article_content

from tests.e2e.support import Account

pytestmark = pytest.mark.e2e


def test_a_seeded_published_course_has_an_article_an_enrolled_student_can_read(
        http: httpx.Client, db: psycopg.Connection, cloud: LocalCloud, student: Account) -> None:
    titles = [a[3] for a in DEMO_ARTICLES]
    assert cloud.seeded["articles"]["uploaded"] + cloud.seeded["articles"]["existing"] == titles
    rows = db.execute(
        "SELECT a.id::text, c.id::text, a.size_bytes, a.content_hash FROM assets a "
        "JOIN modules m ON m.id = a.module_id JOIN courses c ON c.id = m.course_id "
        "WHERE a.asset_type = 'article' AND a.status = 'ready' AND c.status = 'published' AND c.title = %s "
        "AND a.title = %s", (DEMO_ARTICLES[0][1], DEMO_ARTICLES[0][3])).fetchall()
    assert len(rows) == 1
    asset_id, course_id, size_bytes, content_hash = rows[0]

    assert http.get(f"/api/v1/assets/{asset_id}/content", headers=student.headers).status_code == 403
    enrolled = http.post("/api/v1/enrollments", json={"course_id": course_id}, headers=student.headers)
    assert enrolled.status_code == 201, enrolled.text
    link = http.get(f"/api/v1/assets/{asset_id}/content", headers=student.headers)
    assert link.status_code == 200, link.text
    document = httpx.get(link.json()["content_url"], timeout=30)
    assert document.status_code == 200
    assert len(document.content) == size_bytes and hashlib.sha256(document.content).hexdigest() == content_hash
    assert json.loads(document.content)["schema"] == "smartcourse.editor.v1"

    # Seeding again changes nothing: the article is ready and its object is there.
    bucket = cloud.runner.function_environment("lms-assets-complete-upload")["CONTENT_BUCKET"]
    s3 = boto3.client("s3", endpoint_url=cloud.endpoints()["aws"])
    puts: list[str] = []

    def read_object(key: str) -> bytes | None:
        try:
            return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None

    def put_object(key: str, body: bytes) -> None:
        puts.append(key)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    version = "SELECT content_version FROM assets WHERE id = %s"
    before = db.execute(version, (asset_id,)).fetchone()
    again = seed_article_content(cloud.database_urls["lms"], put_object, read_object)
    assert again == {"uploaded": [], "existing": titles, "published": []} and puts == []

    # A database that outlived the emulator's objects is repaired: the same content again, same version.
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"courses/{course_id}/")["Contents"]
             if asset_id in o["Key"]]
    s3.delete_object(Bucket=bucket, Key=key)
    repaired = seed_article_content(cloud.database_urls["lms"], put_object, read_object)
    assert repaired == {"uploaded": [DEMO_ARTICLES[0][3]], "existing": titles[1:], "published": []} and puts == [key]
    assert hashlib.sha256(read_object(key) or b"").hexdigest() == content_hash
    assert db.execute(version, (asset_id,)).fetchone() == before
