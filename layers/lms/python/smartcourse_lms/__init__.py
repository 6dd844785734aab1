"""The LMS service: auth, RBAC, courses, modules, content, enrollments, progress, certificates.

Imported only by the LMS's own functions.
"""
