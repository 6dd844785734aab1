"""The learning domain: courses, content, enrollments, progress and certificates. Pure rules, no I/O."""
