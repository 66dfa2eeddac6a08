"""The fallback language detector can be loaded up front, as workers do before taking work."""

from __future__ import annotations

from socialdesk.triage import langid


def test_preloaded_fallback_answers_languages_outside_the_trained_set() -> None:
    langid.preload()
    assert langid._PRELOADED is not None
    first = langid._PRELOADED
    langid.preload()  # a second call keeps the loaded detector
    assert langid._PRELOADED is first
    result = langid.lingua_detect("Привет, где мой заказ? Уже неделя прошла")
    assert (result.code, result.method) == ("ru", "lingua")
