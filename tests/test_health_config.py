"""`[health] listen`: off unless set; HOST:PORT validated with an error naming the key; the
shipped example shows it on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import HealthConfig, load_config
from tests.test_config import ENV, EXAMPLE, MINIMAL, error_of, write


def test_absent_or_empty_means_no_listener(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL), env=ENV).health == HealthConfig()
    config = load_config(write(tmp_path, MINIMAL + '[health]\nlisten = ""\n'), env=ENV)
    assert config.health.host is None


@pytest.mark.parametrize(("listen", "host", "port", "loopback"), [
    ("127.0.0.1:9464", "127.0.0.1", 9464, True),
    ("localhost:9464", "127.0.0.1", 9464, True),
    ("[::1]:9100", "::1", 9100, True),
    ("0.0.0.0:9464", "0.0.0.0", 9464, False),
    ("192.0.2.7:1", "192.0.2.7", 1, False),
])
def test_listen_addresses(tmp_path: Path, listen: str, host: str, port: int,
                          loopback: bool) -> None:
    config = load_config(write(tmp_path, MINIMAL + f'[health]\nlisten = "{listen}"\n'),
                         env=ENV)
    assert (config.health.host, config.health.port) == (host, port)
    assert config.health.loopback is loopback


@pytest.mark.parametrize("listen", ["9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
                                    "127.0.0.1:65536", "127.0.0.1:http", "example.org:9464",
                                    "::1:9464", "127.0.0.1:94 64", "http://127.0.0.1:9464"])
def test_bad_listen_addresses_name_the_key(tmp_path: Path, listen: str) -> None:
    err = error_of(tmp_path, MINIMAL + f'[health]\nlisten = "{listen}"\n')
    assert err.key == "health.listen"
    assert "HOST:PORT" in str(err) and repr(listen) in str(err)


def test_listen_must_be_a_string_and_the_section_has_no_other_key(tmp_path: Path) -> None:
    assert error_of(tmp_path, MINIMAL + "[health]\nlisten = 9464\n").key == "health.listen"
    err = error_of(tmp_path, MINIMAL + '[health]\nlisten = "127.0.0.1:1"\nport = 2\n')
    assert err.key == "health.port" and "unknown key" in str(err)


def test_the_example_listens_on_loopback_and_says_what_exposing_it_means() -> None:
    config = load_config(EXAMPLE, env=ENV)
    assert (config.health.host, config.health.port) == ("127.0.0.1", 9464)
    text = EXAMPLE.read_text(encoding="utf-8")
    section = text.split("[health]", 1)[1].split("\n[", 1)[0]
    assert "no authentication" in section and "0.0.0.0" in section
