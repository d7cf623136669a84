"""Webhook alerts: delivered once, retried on transient failures, against a local HTTP server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from orchestration.defs.asset_keys import HEALTH_SCORES
from orchestration.defs.ops.sensors import WEBHOOK_ENV, grade_drop_alerts
from orchestration.lib.reporting.alerts import AlertDeliveryError, deliver, post_json

DROP = {
    "account_id": "ACC-1",
    "objective": "retention_risk",
    "change_kind": "grade_drop",
    "old_grade": "green",
    "new_grade": "red",
    "as_of_date": "2026-11-20",
    "old_score": 75.0,
    "new_score": 31.5,
    "top_reasons": "Active users fell 60% in the last 30 days",
    "change_drivers": "Active users trend -20.1",
    "override_id": None,
    "override_reason": None,
}


class _Receiver:
    """A webhook on 127.0.0.1 that fails the first `fail_first` requests with HTTP 503."""

    def __init__(self, fail_first: int = 0):
        self.received: list[dict] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                receiver.attempts += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.attempts <= fail_first:
                    self.send_response(503)
                else:
                    receiver.received.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_transient_failures_are_retried():
    with _Receiver(fail_first=2) as hook:
        post_json(hook.url, {"alert_key": "k"}, attempts=3, backoff_seconds=0.01)
    assert hook.attempts == 3 and len(hook.received) == 1


def test_gives_up_after_the_last_attempt_naming_the_alert():
    with _Receiver(fail_first=5) as hook, pytest.raises(AlertDeliveryError, match="did not accept alert k"):
        post_json(hook.url, {"alert_key": "k"}, attempts=2, backoff_seconds=0.01)


def test_deliver_skips_what_was_already_sent():
    with _Receiver() as hook:
        sent = deliver(hook.url, [DROP, DROP], set())
        again = deliver(hook.url, [DROP], set(sent))
    assert len(sent) == 1 and again == []
    assert len(hook.received) == 1
    body = hook.received[0]
    assert body["event"] == "grade_drop"
    assert body["old_grade"] == "green" and body["new_grade"] == "red"
    assert "dropped from green to red" in body["text"]
    assert body["top_reasons"].startswith("Active users fell")


def test_sensor_sends_each_alert_once_per_score_version(monkeypatch):
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=HEALTH_SCORES, metadata={"changes": dg.MetadataValue.json([DROP]), "score_version": 2}
        )
    )
    with _Receiver() as hook:
        monkeypatch.setenv(WEBHOOK_ENV, hook.url)
        context = dg.build_sensor_context(instance=instance)
        first = grade_drop_alerts(context)
        cursor = context.cursor
        second = grade_drop_alerts(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert "sent 1 alert(s)" in first.skip_message
    assert second.skip_message == "no new score versions"
    assert len(hook.received) == 1 and hook.received[0]["account_id"] == "ACC-1"


def test_sensor_without_webhook_says_so(monkeypatch):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    result = grade_drop_alerts(dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral()))
    assert WEBHOOK_ENV in result.skip_message
