"""redact(): the answers it remembers for short texts never outlive a newly registered secret."""

from __future__ import annotations

from releasegate.core import redact as redaction
from releasegate.core.redact import MASK, redact, register_secret


def test_a_text_redacted_before_its_secret_was_registered_is_masked_after() -> None:
    text = "token s3cr3t-before-registration in a message"
    assert redact(text) == text
    register_secret("s3cr3t-before-registration")
    assert redact(text) == f"token {MASK} in a message"


def test_long_texts_are_redacted_without_being_remembered() -> None:
    register_secret("long-text-secret")
    text = "x" * (redaction._MEMO_TEXT + 1) + " long-text-secret"
    assert redact(text).endswith(f" {MASK}")
    assert text not in redaction._MEMO


def test_remembered_answers_are_the_same_as_fresh_ones() -> None:
    texts = ["postgresql://user:pw@db:5432/app", "Authorization: Bearer abc.def", "password=hunter2",
             "plain message", "ünïcode password=x"]
    first = [redact(t) for t in texts]
    redaction._MEMO.clear()
    assert [redact(t) for t in texts] == first == [redaction._redact(t) for t in texts]
    assert all(MASK in t for t in first[:3]) and first[3] == "plain message"
