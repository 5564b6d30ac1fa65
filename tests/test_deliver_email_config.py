"""The e-mail target's ``ca_file`` in the config: a PEM bundle, relative to the config's folder,
checked at load; every problem names the config file, the key and the bundle's path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.deliver.settings import EmailSettings
from monitor.errors import ConfigError
from tests.test_deliver_email_tls import _make_ca

ENV: dict[str, str] = {}
MAIL = """
[[feeds]]
name = "a"
url = "https://example.org/feed.xml"

[targets.m]
type = "email"
host = "smtp.example.org"
from = "monitor@example.org"
to = ["duty@example.org"]
"""


def config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(MAIL + extra, encoding="utf-8")
    return path


@pytest.fixture
def ca_bundle(tmp_path: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test CA")
    (tmp_path / "pki").mkdir()
    _make_ca(tmp_path / "pki", "company-ca")
    return tmp_path / "pki" / "company-ca.pem"


def error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    assert str(path) in str(caught.value), "the error must name the config file"
    assert caught.value.key == "targets.m.ca_file"
    return caught.value


def test_ca_file_is_relative_to_the_config_and_kept_absolute(tmp_path: Path,
                                                             ca_bundle: Path) -> None:
    loaded = load_config(config(tmp_path, 'ca_file = "pki/company-ca.pem"\n'), env=ENV)
    settings = loaded.targets["m"]
    assert isinstance(settings, EmailSettings)
    assert settings.ca_file == str(ca_bundle.resolve())
    default = load_config(config(tmp_path, ""), env=ENV).targets["m"]
    assert isinstance(default, EmailSettings) and default.ca_file is None  # the system store


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read"), ("", "no usable PEM certificate"),
    ("not a certificate\n", "no usable PEM certificate"), ("dir", "cannot read")])
def test_a_bad_ca_file_names_the_file_and_the_key(tmp_path: Path, content: str | None,
                                                  says: str) -> None:
    bundle = tmp_path / "ca.pem"
    if content == "dir":
        bundle.mkdir()
    elif content is not None:
        bundle.write_text(content, encoding="ascii")
    err = error(config(tmp_path, 'ca_file = "ca.pem"\n'))
    assert says in str(err) and str(bundle) in str(err)


def test_ca_file_without_tls_is_refused(tmp_path: Path, ca_bundle: Path) -> None:
    err = error(config(tmp_path, 'security = "none"\nca_file = "pki/company-ca.pem"\n'))
    assert "starttls" in str(err)
