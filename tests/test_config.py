"""Settings from the environment: safe defaults, and one clear error naming the variable when a value is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from filinglake.config import PROJECT_ROOT, ConfigError, load_settings
from filinglake.sources import env_vars, source_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No filinglake or AWS variable set, whatever the developer's shell exports."""
    for names, *_ in env_vars():
        for name in names.split("/"):
            monkeypatch.delenv(name.strip(), raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return monkeypatch


def test_defaults_are_local_and_polite(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.storage == (PROJECT_ROOT / "data").as_uri()
    sec = source_settings("sec_edgar", settings)
    assert sec.base_url == "https://www.sec.gov/Archives/edgar"
    assert sec.rate == 5.0 and sec.block_seconds == 600.0  # below SEC's 10/s; its 10-minute block
    assert settings.sec_user_agent is None and settings.s3_endpoint_url is None
    with pytest.raises(ConfigError, match="FILINGLAKE_SEC_USER_AGENT"):
        settings.require_sec_user_agent()


def test_values_from_the_environment(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("FILINGLAKE_STORAGE", str(tmp_path / "lake"))  # a bare path becomes a file:// root
    clean_env.setenv("FILINGLAKE_SEC_BASE_URL", "http://127.0.0.1:8765/Archives/edgar/")
    clean_env.setenv("FILINGLAKE_SEC_USER_AGENT", "  Acme Research ops@acme.example ")
    clean_env.setenv("FILINGLAKE_SEC_RATE", "10")
    clean_env.setenv("AWS_ENDPOINT_URL", "http://minio:9000")  # the standard AWS variable is the fallback
    settings = load_settings()
    assert settings.storage == (tmp_path / "lake").as_uri()
    assert source_settings("sec_edgar", settings).base_url == "http://127.0.0.1:8765/Archives/edgar"
    assert settings.require_sec_user_agent() == "Acme Research ops@acme.example"
    assert source_settings("sec_edgar", settings).rate == 10.0
    assert settings.s3_endpoint_url == "http://minio:9000"
    clean_env.setenv("FILINGLAKE_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert load_settings().s3_endpoint_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("name", "value", "read", "message"),
    [
        ("FILINGLAKE_SEC_RATE", "11", lambda s: source_settings("sec_edgar", s).rate,
         "FILINGLAKE_SEC_RATE=11.0: SEC allows at most 10 requests per second"),
        ("FILINGLAKE_SEC_RATE", "fast", lambda s: source_settings("sec_edgar", s).rate,
         "FILINGLAKE_SEC_RATE='fast' is not a number"),
        ("FILINGLAKE_HTTP_TIMEOUT", "0", lambda s: s.http_timeout, "FILINGLAKE_HTTP_TIMEOUT='0' must be positive"),
        ("FILINGLAKE_STORAGE", "gs://bucket/x", lambda s: s.storage,
         "FILINGLAKE_STORAGE='gs://bucket/x': only file:// and s3://"),
    ],
)
def test_bad_values_name_the_variable(clean_env: pytest.MonkeyPatch, name: str, value: str, read, message: str) -> None:
    clean_env.setenv(name, value)
    settings = load_settings()
    with pytest.raises(ConfigError) as raised:
        read(settings)  # raised where the value is read
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("value", ["s3:/bucket/x", "file:/abs/lake", "s3:bucket", "file://relative/lake", "s3:///x",
                                   "s3://", "S3://Bucket_With_Underscore/x"])
def test_malformed_storage_urls_are_refused(clean_env: pytest.MonkeyPatch, value: str) -> None:
    """``s3:/bucket`` is not a relative folder called ``s3:``: refuse it instead of writing under the current folder."""
    clean_env.setenv("FILINGLAKE_STORAGE", value)
    settings = load_settings()  # the environment is read; the value is checked where it is used
    with pytest.raises(ConfigError) as raised:
        _ = settings.storage
    message = str(raised.value)
    assert message.startswith(f"FILINGLAKE_STORAGE={value!r}") and "s3://bucket/prefix" in message
    assert "file:///" in message


@pytest.mark.parametrize(("value", "expected"), [("s3://lake-bucket/prefix/", "s3://lake-bucket/prefix"),
                                                 ("file:///srv/lake", "file:///srv/lake"),
                                                 ("file://localhost/srv/lake", "file:///srv/lake")])
def test_well_formed_storage_urls_are_kept(clean_env: pytest.MonkeyPatch, value: str, expected: str) -> None:
    clean_env.setenv("FILINGLAKE_STORAGE", value)
    assert load_settings().storage == expected


def test_a_bad_value_only_fails_the_consumer_that_reads_it(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("FILINGLAKE_STORAGE", str(tmp_path))
    clean_env.setenv("FILINGLAKE_SEC_RATE", "fast")
    clean_env.setenv("FILINGLAKE_HKEX_RATE", "-1")
    settings = load_settings()
    assert settings.storage == tmp_path.as_uri() and source_settings("cninfo", settings).rate == 0.5  # the rest is usable
    with pytest.raises(ConfigError, match="FILINGLAKE_SEC_RATE='fast' is not a number"):
        _ = source_settings("sec_edgar", settings).rate
    with pytest.raises(ConfigError, match="FILINGLAKE_HKEX_RATE='-1' must be positive"):
        _ = source_settings("hkex", settings).rate
    assert "FILINGLAKE_SEC_RATE" not in repr(settings)  # repr still works; the variable snapshot is left out


@pytest.mark.parametrize(
    "value",
    ["filinglake", "ops@acme.example", "Acme Research", "Acme ops@", "Acme @acme.example", "Acme ops@localhost"],
)
def test_sec_user_agent_needs_a_name_and_an_email(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("FILINGLAKE_SEC_USER_AGENT", value)
    settings = load_settings()  # not checked until SEC is called
    with pytest.raises(ConfigError) as raised:
        settings.require_sec_user_agent()
    assert str(raised.value).startswith(f"FILINGLAKE_SEC_USER_AGENT={value!r} must hold a name and an e-mail address")


@pytest.mark.parametrize("value", ["Acme Research ops@acme.example", "filinglake-tests tests@example.com",
                                   "Jane Doe (Acme) jane.doe+sec@acme.co.uk"])
def test_sec_user_agent_with_name_and_email_is_accepted(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("FILINGLAKE_SEC_USER_AGENT", value)
    assert load_settings().require_sec_user_agent() == value
