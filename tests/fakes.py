"""Test doubles shared by the unit tests of single modules (end-to-end tests use real servers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FakeResponse:
    url: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""


class FakePoster:
    """Stands in for GuardedClient.post: records calls; answers with a fixed response or raises
    a fixed error."""

    def __init__(self, response: FakeResponse | None = None,
                 error: Exception | None = None) -> None:
        self.response = response or FakeResponse("https://receiver.example/", 204)
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def post(self, url: str, *, content: bytes, headers: Mapping[str, str] | None = None,
             secret_url: bool = True) -> FakeResponse:
        self.calls.append({"url": url, "content": content, "headers": dict(headers or {}),
                           "secret_url": secret_url})
        if self.error is not None:
            raise self.error
        return self.response
