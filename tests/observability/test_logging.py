"""Structured logs: JSON lines with the context fields, one traceback per exception."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.test import APIRequestFactory

from interlock import logging as ilog
from plants.api.authentication import ApiKeyAuthentication


@pytest.fixture
def capture():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ilog.JsonFormatter())
    handler.addFilter(ilog.ContextFilter())
    logger = logging.getLogger("tests.observability.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield logger, lines
    logger.removeHandler(handler)


def test_a_log_line_carries_the_context_fields(capture):
    logger, lines = capture
    with ilog.log_context(correlation_id="corr-7", plant="P1", system="MES-P1", event_id=42):
        with ilog.log_context(task_id="task-1"):
            logger.info("applied %s", "operation.confirmed", extra={"sla_flow": "delivery"})
        logger.warning("outside the task")
    logger.info("no context")
    first, second, third = lines()
    assert first["message"] == "applied operation.confirmed"
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.observability.json"
    assert "time" in first
    assert (
        first["correlation_id"],
        first["plant"],
        first["system"],
        first["event_id"],
        first["task_id"],
        first["sla_flow"],
    ) == ("corr-7", "P1", "MES-P1", 42, "task-1", "delivery")
    assert "task_id" not in second
    assert second["event_id"] == 42
    assert "correlation_id" not in third


def test_a_traceback_is_logged_once(capture):
    logger, lines = capture
    try:
        try:
            raise ValueError("bad lot")
        except ValueError:
            logger.exception("handler failed")
            raise
    except ValueError:
        logger.exception("request failed")  # e.g. Django's "Internal Server Error"
    first, second = lines()
    assert "Traceback" in first["exc_info"]
    assert "bad lot" in first["exc_info"]
    assert "exc_info" not in second
    assert second["exc_logged_before"] is True
    assert second["exc_type"] == "ValueError"


def test_celery_tasks_bind_their_id_name_and_id_arguments(capture):
    logger, lines = capture

    class Task:
        name = "connectors.deliver_outbox"

        def run(self, system_id, limit=10):
            return None

    ilog._task_prerun(task_id="t-9", task=Task(), args=(7,), kwargs={})
    logger.info("delivering")
    ilog._task_postrun(task_id="t-9")
    logger.info("after")
    during, after = lines()
    assert (during["task_id"], during["task_name"], during["system"]) == (
        "t-9",
        "connectors.deliver_outbox",
        7,
    )
    assert "task_id" not in after


def test_requests_get_a_request_id_and_the_callers_correlation_id():
    seen = {}

    def view(request):
        seen.update(ilog.current_context())
        return HttpResponse("ok")

    middleware = ilog.RequestContextMiddleware(view)
    response = middleware(RequestFactory().get("/x", HTTP_X_CORRELATION_ID="corr-from-erp"))
    assert seen["correlation_id"] == "corr-from-erp"
    assert response["X-Request-ID"] == seen["request_id"]
    assert ilog.current_context() == {}  # nothing leaks into the next request


def test_an_api_key_request_logs_its_system_and_plant(world):
    request = APIRequestFactory().post("/", HTTP_AUTHORIZATION=f"Api-Key {world['mes_key']}")
    token = ilog.bind(request_id="r-1")
    try:
        ApiKeyAuthentication().authenticate(request)
        context = ilog.current_context()
    finally:
        ilog.reset(token)
    assert (context["request_id"], context["system"], context["plant"]) == ("r-1", "MES-P1", "P1")


def test_plain_console_lines_keep_the_context():
    formatter = ilog.PlainFormatter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    record.correlation_id, record.plant = "corr-1", "P2"
    assert formatter.format(record).endswith("hello [correlation_id=corr-1 plant=P2]")


def test_settings_choose_json_for_servers_and_plain_for_the_demo():
    from interlock.logging import logging_config

    assert logging_config(fmt="json", level="INFO")["handlers"]["console"]["formatter"] == "json"
    assert logging_config(fmt="plain", level="INFO")["handlers"]["console"]["filters"] == [
        "context"
    ]
