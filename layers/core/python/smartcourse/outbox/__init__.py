"""The transactional outbox's publishing side: claim due rows, produce them to Kafka, mark them.

``rules`` holds the I/O-free decisions (backoff, parking, per-row settlement);
``publisher`` the database and broker work. Writing rows is the unit of work's
job (``smartcourse.db.unit_of_work``).
"""
