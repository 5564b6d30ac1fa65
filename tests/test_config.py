"""Config loading: every problem names the file and the key; secrets come from the environment."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from monitor.config import KEYS, load_config
from monitor.deliver.settings import EmailSettings, SlackSettings, WebhookSettings
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deploy" / "monitor.toml.example"
ENV = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B2/sekrit",
       "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
       "SMTP_PASSWORD": "hunter2"}
MINIMAL = """
[[feeds]]
name = "a"
url = "https://example.org/feed.xml"

[targets.console]
type = "console"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=ENV if env is None else env)
    assert str(path) in str(info.value), "the error must name the file"
    return info.value


def test_example_config_loads_and_uses_every_target_type() -> None:
    config = load_config(EXAMPLE, env=ENV)
    assert [f.name for f in config.feeds] == ["shafaq-news"]
    assert config.feeds[0].interval == 3600
    assert isinstance(config.targets["analysts-slack"], SlackSettings)
    assert config.targets["analysts-slack"].webhook_url == ENV["SLACK_WEBHOOK_URL"]
    siem = config.targets["siem"]
    assert isinstance(siem, WebhookSettings) and siem.secrets == (ENV["WEBHOOK_SECRET"],)
    mail = config.targets["duty-mail"]
    assert isinstance(mail, EmailSettings) and mail.password == "hunter2"
    assert [r.min_severity for r in config.routes] == ["low", "critical", "medium"]
    digest = config.delivery.schedules["daily-digest"]
    assert digest.digest == 86400 and str(digest.zone) == "Asia/Baghdad"
    assert set(config.delivery.schedules) == {"daily-digest"}
    assert config.network.allow_private == ()


def test_example_config_shows_every_key_of_the_schema() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    # keys written in the example, commented-out or not
    written = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, flags=re.M))
    for section, keys in KEYS.items():
        missing = {k for k in keys if k not in written and k not in KEYS}
        missing -= {"feeds", "targets", "routes", "network", "delivery"}
        assert not missing, f"deploy/monitor.toml.example does not show {section}: {missing}"


@pytest.mark.parametrize(("line", "key"), [
    ('quiet_hour = "22:00-07:00"', "targets.console.quiet_hour"),
    ('quiet_hours = "22-07"', "targets.console.quiet_hours"),
    ('timezone = "Europe/Londres"', "targets.console.timezone"),
    ('digest = "1w"', "targets.console.digest"),
    ('digest = "1m"', "targets.console.digest"),
    ('digest_at = "08:00"', "targets.console.digest_at"),
])
def test_schedule_errors_name_the_target_key(tmp_path: Path, line: str, key: str) -> None:
    text = MINIMAL.replace('type = "console"', f'type = "console"\n{line}')
    assert text != MINIMAL
    assert error_of(tmp_path, text).key == key


def test_typo_in_a_key_names_file_and_key(tmp_path: Path) -> None:
    err = error_of(tmp_path, MINIMAL.replace('url = "https', 'ulr = "https'))
    assert err.key == "feeds[0].ulr"
    assert "unknown key 'ulr'" in str(err) and "did you mean 'url'" in str(err)


def test_unknown_top_level_and_network_keys(tmp_path: Path) -> None:
    assert error_of(tmp_path, "databse = 'x.db'\n" + MINIMAL).key == "databse"
    err = error_of(tmp_path, MINIMAL + "[network]\nmax_byte = 5\n")
    assert err.key == "network.max_byte"


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    err = error_of(tmp_path, "[[feeds]\nname=")
    assert "invalid TOML" in str(err)


@pytest.mark.parametrize("url", ["ftp://example.org/f", "example.org/feed", "file:///etc/passwd",
                                 "http://exa mple.org/", "http:\\\\example.org\\feed"])
def test_bad_feed_urls(tmp_path: Path, url: str) -> None:
    err = error_of(tmp_path, MINIMAL.replace("https://example.org/feed.xml", url))
    assert err.key == "feeds[0].url"


def test_missing_env_var_is_named_and_secret_never_shown(tmp_path: Path) -> None:
    text = MINIMAL + '[targets.slack]\ntype = "slack"\nwebhook_url_env = "NOPE_URL"\n'
    err = error_of(tmp_path, text)
    assert err.key == "targets.slack.webhook_url_env" and "NOPE_URL is not set" in str(err)
    bad = error_of(tmp_path, text, env={"NOPE_URL": "not a url/with-secret-token"})
    assert "secret-token" not in str(bad)


def test_secret_from_file(tmp_path: Path) -> None:
    (tmp_path / "hook").write_text("https://hooks.slack.com/services/T/B/x\n")
    path = write(tmp_path, MINIMAL + '[targets.s]\ntype = "slack"\nwebhook_url_file = "hook"\n')
    target = load_config(path, env={}).targets["s"]
    assert isinstance(target, SlackSettings)
    assert target.webhook_url == "https://hooks.slack.com/services/T/B/x"


def test_route_to_a_target_that_does_not_exist(tmp_path: Path) -> None:
    err = error_of(tmp_path, MINIMAL + '[[routes]]\ntargets = ["slak"]\n')
    assert err.key == "routes[0].targets" and "'slak' does not exist" in str(err)


def test_unknown_target_type_and_no_targets(tmp_path: Path) -> None:
    assert error_of(tmp_path, MINIMAL.replace('"console"', '"pager"')).key == \
        "targets.console.type"
    no_targets = MINIMAL.split("[targets")[0]
    assert error_of(tmp_path, no_targets).key == "targets"


@pytest.mark.parametrize("address", ["a@b.org\r\nBcc: x@evil.org", "Eve <e@x.org>", "a b@c.org"])
def test_email_addresses_with_crlf_or_quoting_are_rejected(tmp_path: Path, address: str) -> None:
    text = MINIMAL + ('[targets.m]\ntype = "email"\nhost = "smtp.example.org"\n'
                      'from = "a@example.org"\nto = [' + repr(address).replace("'", '"') + "]\n")
    err = error_of(tmp_path, text)
    assert err.key == "targets.m.to"


def test_email_credentials_without_tls_are_refused(tmp_path: Path) -> None:
    text = MINIMAL + ('[targets.m]\ntype = "email"\nhost = "smtp.example.org"\nsecurity = "none"\n'
                      'from = "a@example.org"\nto = ["b@example.org"]\nusername = "u"\n'
                      'password_env = "SMTP_PASSWORD"\n')
    err = error_of(tmp_path, text)
    assert err.key == "targets.m.security" and "hunter2" not in str(err)


def test_intervals_and_allowlist(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('url = "https://example.org/feed.xml"',
                                           'url = "https://example.org/feed.xml"\ninterval = "15m"')
                 + '[network]\nallow_private = ["127.0.0.1", "10.0.0.0/8"]\n')
    config = load_config(path, env={})
    assert config.feeds[0].interval == 900
    assert config.network.allow_private == ("127.0.0.1", "10.0.0.0/8")
    assert config.database == tmp_path / "monitor.db"
    assert error_of(tmp_path, MINIMAL.replace('name = "a"', 'name = "a"\ninterval = "5x"')).key \
        == "feeds[0].interval"
    assert error_of(tmp_path, MINIMAL + '[network]\nallow_private = ["localhost"]\n').key == \
        "network.allow_private"


def test_duplicate_feed_names(tmp_path: Path) -> None:
    feed = MINIMAL.split("[targets")[0]
    err = error_of(tmp_path, feed + feed + '[targets.c]\ntype = "console"\n')
    assert err.key == "feeds[1].name"


def test_example_is_valid_toml() -> None:
    assert tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["feeds"]


def test_stories_settings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + '[stories]\nwindow = "5d"\ngroup_wait = 0\n'),
                         env={})
    assert config.stories.window == 5 * 86400 and config.stories.group_wait == 0
    assert config.stories.update_interval == 1800 and config.stories.max_age == 3 * 86400
    assert error_of(tmp_path, MINIMAL + '[stories]\nmax_age = "soon"\n').key == "stories.max_age"
    assert error_of(tmp_path, MINIMAL + '[stories]\nwindo = "5d"\n').key == "stories.windo"


@pytest.mark.parametrize(("extra", "key"), [
    ("[delivery]\nbackoff_base = inf\n", "delivery.backoff_base"),
    ("[network]\ntotal_timeout = nan\n", "network.total_timeout"),
    ("[network]\nmax_redirects = -1\n", "network.max_redirects"),
    ('[stories]\nwindow = "999999999999d"\n', "stories.window"),
])
def test_numbers_that_would_break_at_run_time_are_refused(tmp_path: Path, extra: str,
                                                          key: str) -> None:
    assert error_of(tmp_path, MINIMAL + extra).key == key


def test_a_bad_feed_url_error_does_not_echo_its_query_token(tmp_path: Path) -> None:
    err = error_of(tmp_path, MINIMAL.replace("https://example.org/feed.xml",
                                             "ftp://example.org/feed?token=S3CRET"))
    assert err.key == "feeds[0].url" and "S3CRET" not in str(err)


def test_route_rule_ids_must_exist_in_the_rule_set(tmp_path: Path) -> None:
    from monitor.config import check_route_rules

    path = write(tmp_path, MINIMAL + '[[routes]]\ntargets = ["console"]\nrules = ["a", "typo"]\n')
    config = load_config(path, env={})
    assert config.routes[0].rules == ("a", "typo")
    check_route_rules(config, {"a", "typo"})
    with pytest.raises(ConfigError) as info:
        check_route_rules(config, {"a"})
    assert info.value.key == "routes[0].rules" and "'typo'" in str(info.value)
