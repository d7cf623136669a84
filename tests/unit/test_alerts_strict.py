"""Webhook delivery is strict: http(s) only, no redirects, failures reported as failures, and the
URL's credentials never appear in a message."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from orchestration.defs.asset_keys import HEALTH_SCORES as SCORES_KEY
from orchestration.defs.ops.sensors import grade_drop_alerts
from orchestration.lib.reporting.alerts import (
    WEBHOOK_ENV,
    AlertDeliveryError,
    WebhookSettingError,
    post_json,
    redact_url,
    webhook_url_from_env,
)
from tests.unit.test_alerts import DROP

SECRET = "s3cr3t-T0KEN"


class _Redirecting:
    """A webhook that answers every request with 302 to another path, counting what it gets."""

    def __init__(self, status: int = 302):
        self.requests: list[tuple[str, str]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                hook.requests.append((self.command, self.rfile.read(length).decode()))
                self.send_response(status)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = _answer  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://user:{SECRET}@127.0.0.1:{self.server.server_port}/hooks/{SECRET}?token={SECRET}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_is_a_failed_delivery_and_is_not_followed(status):
    hook = _Redirecting(status)
    try:
        with pytest.raises(AlertDeliveryError) as err:
            post_json(hook.url, {"alert_key": "k"}, attempts=3, backoff_seconds=0.01)
    finally:
        hook.close()
    assert [method for method, _ in hook.requests] == ["POST"]  # never a GET to the new location
    assert f"HTTP {status} redirect (not followed" in str(err.value)
    assert SECRET not in str(err.value)


def test_an_unreachable_webhook_is_retried_then_fails_without_the_secret():
    url = f"https://user:{SECRET}@127.0.0.1:9/hooks/{SECRET}?token={SECRET}"  # nothing listens on 9
    sleeps: list[float] = []
    with pytest.raises(AlertDeliveryError) as err:
        post_json(url, {"alert_key": "k"}, attempts=3, backoff_seconds=0.5, sleep=sleeps.append)
    assert sleeps == [0.5, 1.0]
    assert "after 3 attempt(s)" in str(err.value) and SECRET not in str(err.value)


@pytest.mark.parametrize(
    "value", ["not a url", "file:///etc/passwd", "ftp://example.com/x", "https://", "http://:80/x"]
)
def test_only_http_and_https_urls_are_accepted_when_the_setting_is_read(monkeypatch, value):
    monkeypatch.setenv(WEBHOOK_ENV, value)
    with pytest.raises(WebhookSettingError, match=f"{WEBHOOK_ENV} must be an http:// or https:// URL"):
        webhook_url_from_env()


def test_the_sensor_fails_on_a_bad_setting_and_on_a_failed_delivery(monkeypatch):
    monkeypatch.setenv(WEBHOOK_ENV, f"file:///tmp/{SECRET}")
    instance = dg.DagsterInstance.ephemeral()
    with pytest.raises(WebhookSettingError) as err:
        grade_drop_alerts(dg.build_sensor_context(instance=instance))
    assert SECRET not in str(err.value)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=SCORES_KEY, metadata={"changes": dg.MetadataValue.json([DROP])})
    )
    hook = _Redirecting(302)
    monkeypatch.setenv(WEBHOOK_ENV, hook.url)
    try:
        with pytest.raises(AlertDeliveryError) as err:  # never "sent 1 alert(s)"
            grade_drop_alerts(dg.build_sensor_context(instance=instance))
    finally:
        hook.close()
    assert SECRET not in str(err.value)


def test_redacted_urls_keep_only_what_locates_the_receiver():
    assert redact_url(f"https://u:{SECRET}@hooks.example.com/services/T0/B0/{SECRET}?token={SECRET}&a=1") == (
        "https://***@hooks.example.com/services/***?token=***&a=***"
    )
    assert redact_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"
    assert redact_url("not a url") == "<not a URL>"
