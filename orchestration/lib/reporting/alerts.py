"""Grade-drop and override-expiry notifications to a webhook: JSON, deduplicated, retried."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept an alert after every retry."""


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


def post_json(
    url: str,
    body: dict,
    *,
    attempts: int = 3,
    backoff_seconds: float = 0.5,
    timeout: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    data = json.dumps(body, default=str).encode()
    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return
                last = AlertDeliveryError(f"HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            last = exc
            if 400 <= exc.code < 500 and exc.code != 429:
                break  # the receiver rejects this payload: retrying will not help
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = exc
        if attempt < attempts:
            sleep(backoff_seconds * 2 ** (attempt - 1))
    raise AlertDeliveryError(f"webhook {url} did not accept alert {body.get('alert_key')}: {last}")


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
