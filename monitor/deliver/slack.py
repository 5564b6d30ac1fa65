"""The Slack target: one incoming-webhook POST per alert (payload from ``slack_render``).

Outcomes (Slack's documented webhook errors):

==========================================  =============================================
200 with body ``ok``                        delivered
200 with any other body                     permanent failure (not Slack, or a changed API)
3xx                                         permanent: "webhook URL redirects; update the URL"
429                                         transient, ``retry_after`` from ``Retry-After``
408, 5xx, network errors, timeouts          transient
400/403/404/410 (``invalid_payload``,       permanent; the body code is in the message
``channel_is_archived``, ``no_service``,
``invalid_token`` …) and other 4xx         (410 and the codes in ``GONE_CODES``: ``gone``)
address refused by the network guard        permanent
==========================================  =============================================

The webhook URL is the credential: no message raised here contains it (the target is named
instead), and a library error whose text carries it is not chained.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from monitor.deliver.base import HttpPoster, body_code, header, parse_retry_after, post
from monitor.deliver.settings import SlackSettings
from monitor.deliver.slack_render import render_slack
from monitor.errors import DeliveryError
from monitor.model import Alert

_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
# Body codes saying the webhook will never work again: the target is disabled (``gone``). The
# channel is archived, the hook removed or its token revoked, the workspace gone.
GONE_CODES = frozenset({"channel_is_archived", "no_service", "invalid_token", "token_revoked",
                        "team_disabled", "no_team"})


def slack_outcome(name: str, status: int, headers: Mapping[str, str], content: bytes, *,
                  secret: str | None = None) -> DeliveryError | None:
    """None when Slack accepted the message, else the error to raise. ``secret``: the webhook
    URL, redacted from the body quoted in the message."""
    where = f"slack target {name!r}"
    code = body_code(content, secret=secret)
    if 200 <= status < 300:
        if content.strip() == b"ok":
            return None
        return DeliveryError(f"{where}: HTTP {status} with body {code!r} instead of 'ok'",
                             transient=False)
    if 300 <= status < 400:
        return DeliveryError(f"{where}: webhook URL redirects (HTTP {status}); update the URL",
                             transient=False)
    retry_after = parse_retry_after(header(headers, "Retry-After"))
    if status == 429:
        return DeliveryError(f"{where}: rate limited (HTTP 429)", transient=True,
                             retry_after=retry_after)
    if status == 408 or status >= 500:
        return DeliveryError(f"{where}: HTTP {status} {code}".rstrip(), transient=True,
                             retry_after=retry_after)
    if 400 <= status < 500:
        hint = ""
        if status in (403, 404, 410):
            hint = "; the webhook may be revoked or its channel archived: configure a new URL"
        return DeliveryError(f"{where}: rejected with HTTP {status} {code!r}{hint}",
                             transient=False, gone=status == 410 or code in GONE_CODES)
    return DeliveryError(f"{where}: unexpected HTTP {status}", transient=True)


class SlackTarget:
    """Posts Block Kit messages to a Slack incoming webhook."""

    min_interval = 1.0  # seconds between two posts (Slack allows about one per second)

    def __init__(self, name: str, settings: SlackSettings, client: HttpPoster) -> None:
        self.name = name
        self._url = settings.webhook_url
        self._client = client

    def __repr__(self) -> str:
        return f"SlackTarget(name={self.name!r})"

    def send(self, alert: Alert) -> None:
        body = json.dumps(render_slack(alert), ensure_ascii=False, separators=(",", ":"))
        response = post(self._client, self._url, body.encode("utf-8", "replace"), _HEADERS,
                        f"slack target {self.name!r}")
        error = slack_outcome(self.name, response.status, response.headers, response.content,
                              secret=self._url)
        if error is not None:
            raise error
