"""The notification service: projections of users and courses, preferences, the in-app feed and recorded sends.

It owns its own database (``smartcourse_notification``) and never reads LMS tables: recipients and course
titles are projections built from events. See docs/notifications.md.
"""
