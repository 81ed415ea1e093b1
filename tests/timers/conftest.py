"""Fixtures: the app with a small timer diagram deployed, a local SMTP server, helpers."""

from __future__ import annotations

import socket
import threading
import time
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from app.data.models import AuditEvent, HumanTask, ProcessInstance
from app.engine.calendar import set_default_calendar
from app.engine.definitions.deploy import deploy
from app.services.setup import known_department_names

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)

#: start → timer (duration from the start data's ``delay``) → script → end
TIMER_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="Defs_timer" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="timer_test" name="Timer test" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:intermediateCatchEvent id="wait" name="wait">
      <bpmn:timerEventDefinition id="wait_def">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">delay</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="after" name="after"><bpmn:script>fired = True</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="after" />
    <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


@pytest.fixture
def timer_app(app):
    """The app with the ``timer_test`` diagram deployed; the scheduler context is cleaned up."""
    database = app.extensions["database"]
    with database.transaction() as session:
        deploy(session, {"timer_test.bpmn": TIMER_BPMN}, {}, known_departments=known_department_names(session))
    yield app
    from app.scheduler import stop_scheduler

    stop_scheduler(app, wait=True)


@pytest.fixture(autouse=True)
def _fresh_calendar():
    set_default_calendar(None)
    yield
    set_default_calendar(None)


def start_timer_instance(app, delay: str) -> int:
    runtime = app.extensions["runtime"]
    with app.extensions["database"].transaction() as session:
        return runtime.start(session, "timer_test", {"delay": delay}).id


def fired_count(session, instance_id: int) -> int:
    return session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.instance_id == instance_id,
                                                AuditEvent.action == "timer_fired")
    )


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return predicate()


def instance_status(database, instance_id: int) -> str:
    with database.session() as session:
        return session.scalar(select(ProcessInstance.status).where(ProcessInstance.id == instance_id))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_simple(app) -> tuple[int, str]:
    """The fixture process "simple": its first task "enter" (marketing) is due in 4 hours."""
    with app.extensions["database"].transaction() as session:
        instance = app.extensions["runtime"].start(session, "simple", {})
        task = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).one()
        return instance.id, task.id


class Inbox:
    """Collects what the local SMTP server receives."""

    def __init__(self) -> None:
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = message_from_bytes(envelope.content, policy=default_policy)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str):
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]


class SmtpServer:
    def __init__(self, port: int, **options) -> None:
        """``options`` go to aiosmtpd's ``Controller`` (e.g. ``enable_SMTPUTF8``)."""
        self.port = port
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port, **options)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def smtp_server(smtp_port):
    server = SmtpServer(smtp_port).start()
    yield server
    server.stop()
