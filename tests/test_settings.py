"""Settings read from VIDSEEK_* variables by vidseek itself (settings.env_values), and the errors a
user sees for a bad value: they name the variable and what it held."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidseek.cli.common import load_settings
from vidseek.errors import VidseekError
from vidseek.settings import Settings, env_values


def test_variables_of_every_type_are_read_and_keywords_win(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDSEEK_ROUTES", "speech, title")
    monkeypatch.setenv("vidseek_frame_rate", "2.5")  # any case, as before
    monkeypatch.setenv("VIDSEEK_MEDIA_ROOTS", f"{tmp_path},~/clips")
    monkeypatch.setenv("VIDSEEK_ALLOWED_HOSTS", "Search.Example.org")
    monkeypatch.setenv("VIDSEEK_COOKIE_SECURE", "true")
    monkeypatch.setenv("VIDSEEK_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("VIDSEEK_TEXT_MATCH", "lexical")
    monkeypatch.setenv("VIDSEEK_API_KEY", "client-side, not a field")
    settings = Settings(frame_rate=3, data_dir=tmp_path / "data")
    assert settings.routes == ["speech", "title"]
    assert settings.frame_rate == 3.0  # the keyword beats VIDSEEK_FRAME_RATE
    assert settings.media_roots == [tmp_path.resolve(), Path("~/clips").expanduser().resolve()]
    assert settings.allowed_hosts == ["search.example.org"]
    assert settings.cookie_secure is True
    assert settings.llm_base_url == "http://127.0.0.1:9/v1"
    assert settings.text_match == "lexical"
    assert settings.data_dir == (tmp_path / "data").resolve()
    # what was set, by either way, is "explicit" (search/query.py asks this of routes)
    assert {"routes", "frame_rate", "data_dir"} <= settings.model_fields_set
    assert "min_score" not in settings.model_fields_set
    assert "api_key" not in env_values()
    monkeypatch.setenv("VIDSEEK_ROUTES", '["ocr", "visual"]')
    assert Settings().routes == ["ocr", "visual"]


def test_defaults_are_validated_without_any_variable(monkeypatch, tmp_path):
    for name in list(env_values()):
        monkeypatch.delenv(f"VIDSEEK_{name.upper()}", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "x" / ".." / "share"))
    settings = Settings()
    assert settings.data_dir == (tmp_path / "share" / "vidseek").resolve()  # resolved like a given one
    assert settings.model_fields_set == set()


def test_a_bad_variable_is_named_with_its_value(monkeypatch):
    monkeypatch.setenv("VIDSEEK_FRAME_RATE", "fast")
    monkeypatch.setenv("VIDSEEK_ROUTES", "speech,nope")
    with pytest.raises(VidseekError) as caught:
        load_settings(None)
    message = str(caught.value)
    assert "VIDSEEK_FRAME_RATE='fast'" in message and "valid number" in message
    assert "VIDSEEK_ROUTES='speech,nope'" in message and "unknown route(s) ['nope']" in message
    # a value given as an option is named by its setting, not by a variable it did not come from
    with pytest.raises(VidseekError, match=r"frame_rate: Input should be greater than 0"):
        load_settings(None, frame_rate=-1)
