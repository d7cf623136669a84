"""Grade-drop and override-expiry notifications to a webhook: JSON, deduplicated, retried.

Delivery is strict: only http(s) URLs (checked when the setting is read), the POST is never
redirected (a 3xx answer is a failed delivery: following it would turn the POST into a GET
without the alert), every attempt is retried with backoff, and a delivery that fails after the
last attempt raises. Credentials in the URL (user:password@, query values, path tokens such as
Slack's) never appear in a message: `redact_url`.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable

WEBHOOK_ENV = "HEALTHSCORE_ALERT_WEBHOOK_URL"


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept an alert after every retry."""


class WebhookSettingError(ValueError):
    """The webhook setting is not a usable http(s) URL."""


def redact_url(url: str) -> str:
    """The URL with everything that can carry a secret hidden: user info, the path after its
    first segment, query values and the fragment (`https://hooks.example.com/services/***`)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not parts.netloc:
        return "<not a URL>"
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    segments = [s for s in parts.path.split("/") if s]
    path = "/" + segments[0] + ("/***" if len(segments) > 1 else "") if segments else ""
    query = "&".join(f"{k}=***" for k, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    return (
        f"{parts.scheme}://{'***@' if '@' in parts.netloc else ''}{host}{path}{'?' + query if query else ''}"
    )


def check_webhook_url(url: str) -> str:
    """The URL, stripped, when it is an absolute http(s) URL with a host; else WebhookSettingError."""
    url = url.strip()
    try:
        parts = urllib.parse.urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        raise WebhookSettingError(
            f"{WEBHOOK_ENV} must be an http:// or https:// URL with a host, got {redact_url(url)!s} "
            f"(scheme {(parts.scheme if parts else '') or 'none'!r})"
        )
    return url


def webhook_url_from_env() -> str | None:
    """The configured webhook (None when unset), checked: raises WebhookSettingError."""
    value = os.environ.get(WEBHOOK_ENV, "").strip()
    return check_webhook_url(value) if value else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201
        return None  # urllib then raises HTTPError(3xx): a failed delivery


_OPENER = urllib.request.build_opener(_NoRedirect)


def alert_key(change: dict) -> str:
    """One alert per account, objective, day and transition, however often it is evaluated."""
    return ":".join(
        str(change.get(k) or "")
        for k in ("account_id", "objective", "as_of_date", "change_kind", "old_grade", "new_grade")
    )


def payload(change: dict) -> dict:
    kind = change["change_kind"]
    if kind == "grade_drop":
        text = (
            f"{change['account_id']}: {change['objective']} grade dropped from {change['old_grade']} "
            f"to {change['new_grade']} ({change['old_score']} -> {change['new_score']})"
        )
    else:
        text = (
            f"{change['account_id']}: override {change['override_id']} expired "
            f"({change.get('override_reason') or 'no reason recorded'}); grade now {change['new_grade']}"
        )
    return {"event": kind, "text": text, **change, "alert_key": alert_key(change)}


def _describe(exc: BaseException, url: str) -> str:
    """An error without the URL's secrets (urllib puts the full URL in some messages)."""
    if isinstance(exc, urllib.error.HTTPError):
        if 300 <= exc.code < 400:
            return f"HTTP {exc.code} redirect (not followed: a webhook must accept the POST itself)"
        return f"HTTP {exc.code} {exc.reason}"
    text = str(getattr(exc, "reason", None) or exc)
    return text.replace(url, redact_url(url))


def _without_credentials(url: str) -> tuple[str, dict[str, str]]:
    """The URL without user:password@, which urllib cannot send, and the headers carrying them
    as HTTP basic authentication instead."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json"}
    if parts.username is None and parts.password is None:
        return url, headers
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), headers


def post_json(
    url: str,
    body: dict,
    *,
    attempts: int = 3,
    backoff_seconds: float = 0.5,
    timeout: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """POST `body` as JSON; 2xx is delivered. Redirects are not followed (3xx fails), 4xx other
    than 429 fails at once, anything else is retried `attempts` times with backoff."""
    url = check_webhook_url(url)
    target, headers = _without_credentials(url)
    data = json.dumps(body, default=str).encode()
    last = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(target, data=data, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = _describe(exc, url)
            if 300 <= exc.code < 500 and exc.code != 429:
                break  # a redirect or a rejected payload: retrying will not help
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            last = _describe(exc, url)
        if attempt < attempts:
            sleep(backoff_seconds * 2 ** (attempt - 1))
    raise AlertDeliveryError(
        f"webhook {redact_url(url)} did not accept alert {body.get('alert_key')} "
        f"after {attempt} attempt(s): {last}"
    )


def deliver(url: str, changes: Iterable[dict], already_sent: set[str], **post_kwargs) -> list[str]:
    """Send each change not yet sent; returns the keys sent now. Raises on the first failure,
    after which the caller keeps `already_sent` plus the returned keys so nothing is sent twice."""
    sent: list[str] = []
    for change in changes:
        key = alert_key(change)
        if key in already_sent or key in sent:
            continue
        try:
            post_json(url, payload(change), **post_kwargs)
        except AlertDeliveryError as exc:
            exc.sent_keys = sent  # type: ignore[attr-defined]
            raise
        sent.append(key)
    return sent
