"""Who gets which notification on which channel: a pure function of template, preferences and recipient."""

from __future__ import annotations

import uuid

import pytest
from smartcourse_notification.domain import Channel
from smartcourse_notification.rendering import OPTIONAL_CATEGORIES, TEMPLATES
from smartcourse_notification.rules import DEFAULT_PREFERENCES, Preferences, Recipient, decide, is_e164, send_id

ADA = Recipient(uuid.uuid4(), "ada@example.test", None)


def _sent(decisions: tuple) -> dict[Channel, str | None]:  # type: ignore[type-arg]
    return {d.channel: d.address for d in decisions if d.send}


EMAIL_ADDRESS = None  # resolved by the sender from the recipients projection


def test_defaults_email_and_in_app_on_sms_off_marketing_off() -> None:
    assert DEFAULT_PREFERENCES.email and DEFAULT_PREFERENCES.in_app and not DEFAULT_PREFERENCES.sms
    assert DEFAULT_PREFERENCES.wants("course_updates") and DEFAULT_PREFERENCES.wants("progress")
    assert not DEFAULT_PREFERENCES.wants("marketing")
    assert DEFAULT_PREFERENCES.as_dict()["categories"] == OPTIONAL_CATEGORIES


def test_transactional_mail_ignores_every_opt_out() -> None:
    prefs = Preferences(email=False, in_app=False, categories={k: False for k in OPTIONAL_CATEGORIES})
    assert _sent(decide(TEMPLATES["welcome_verify_email"], prefs)) == {Channel.EMAIL: EMAIL_ADDRESS}
    assert _sent(decide(TEMPLATES["password_reset"], prefs)) == {Channel.EMAIL: EMAIL_ADDRESS}


def test_default_preferences_send_email_and_in_app_but_no_sms() -> None:
    decisions = decide(TEMPLATES["course_completed"], DEFAULT_PREFERENCES)
    assert _sent(decisions) == {Channel.EMAIL: EMAIL_ADDRESS, Channel.IN_APP: None}
    sms = next(d for d in decisions if d.channel is Channel.SMS)
    assert not sms.send and sms.reason == "channel sms switched off"
    with_sms = decide(TEMPLATES["course_completed"], Preferences(sms=True))
    assert next(d for d in with_sms if d.channel is Channel.SMS).reason == "no phone number on file"


def test_sms_needs_the_channel_on_and_a_phone_number() -> None:
    on_without_number = Preferences(sms=True)
    assert Channel.SMS not in _sent(decide(TEMPLATES["course_completed"], on_without_number))
    off_with_number = Preferences(sms=False, phone_number="+4915112345678")
    assert Channel.SMS not in _sent(decide(TEMPLATES["course_completed"], off_with_number))
    on_with_number = Preferences(sms=True, phone_number="+4915112345678")
    assert _sent(decide(TEMPLATES["course_completed"], on_with_number))[Channel.SMS] == "+4915112345678"


def test_a_switched_off_category_silences_every_channel_of_it() -> None:
    prefs = Preferences(sms=True, phone_number="+4915112345678", categories={"progress": False})
    decisions = decide(TEMPLATES["course_completed"], prefs)
    assert _sent(decisions) == {}
    assert {d.reason for d in decisions} == {"category progress switched off"}
    # other categories are untouched
    assert _sent(decide(TEMPLATES["enrollment_confirmation"], prefs)) == {Channel.EMAIL: EMAIL_ADDRESS,
                                                                      Channel.IN_APP: None}


@pytest.mark.parametrize("channel", ["email", "in_app"])
def test_a_switched_off_channel_is_skipped_with_its_reason(channel: str) -> None:
    prefs = DEFAULT_PREFERENCES.with_changes({channel: False})
    decisions = decide(TEMPLATES["enrollment_confirmation"], prefs)
    skipped = next(d for d in decisions if d.channel.value == channel)
    assert not skipped.send and skipped.reason == f"channel {channel} switched off"
    assert len(_sent(decisions)) == 1


def test_with_changes_merges_categories_and_keeps_unsent_fields() -> None:
    prefs = Preferences(phone_number="+4915112345678").with_changes({"categories": {"marketing": True}})
    assert prefs.phone_number == "+4915112345678" and prefs.wants("marketing") and prefs.wants("progress")
    cleared = prefs.with_changes({"phone_number": None, "email": False})
    assert cleared.phone_number is None and not cleared.email and cleared.wants("marketing")
    assert cleared.with_changes({"email": None, "in_app": None}) == cleared


def test_send_ids_are_deterministic_per_event_recipient_and_channel() -> None:
    event, user = uuid.uuid4(), uuid.uuid4()
    assert send_id(event, user, Channel.EMAIL) == send_id(event, user, "email")
    assert len({send_id(event, user, c) for c in Channel}) == 3
    assert send_id(event, user, Channel.EMAIL) != send_id(uuid.uuid4(), user, Channel.EMAIL)


def test_display_name_falls_back_to_the_mailbox() -> None:
    assert ADA.display_name == "ada"
    assert Recipient(uuid.uuid4(), "x@y.z", "Grace").display_name == "Grace"


@pytest.mark.parametrize(("number", "ok"), [("+4915112345678", True), ("+1", False), ("015112345678", False),
                                            ("+0123456789", False), ("+12345678901234567", False)])
def test_e164(number: str, ok: bool) -> None:
    assert is_e164(number) is ok
