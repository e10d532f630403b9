"""The chat end to end: the real rag_service (uvicorn, offline knowledge base), the real
Chainlit server started by ``cmo ui``, the real Kafka broker, and Debian chromium (headless,
every request off loopback blocked and recorded). Screenshots go to test-artifacts/."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.factory import make_producer
from cmo.config import Settings
from cmo.events import QueryReceived, ResponseGenerated, RoutingDecision, UserFeedback
from cmo.topics import topic_name
from rag_service.api import create_app
from tests.browser import browser_session, require_chromium
from tests.conftest import REPO, free_port
from tests.fakes.openai_compat import FakeOpenAI, serve
from tests.integration.helpers import consume_events

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

LOGIN = "alice.researcher"
PASSWORD = "correct horse battery staple"
USER_KEY = "test-user-id-key-" + "k" * 16
PAPER = REPO / "examples" / "papers" / "05_inborn_errors_of_metabolism.pdf"
QUESTION = "Which amino acids accumulate in maple syrup urine disease?"
GERMAN = "Welche Aminosäuren reichern sich bei der Ahornsirupkrankheit (maple syrup urine disease) im Blut von Neugeborenen an?"


def base_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    drop = ("LIGHTRAG_", "KAFKA_", "CMO_", "OPENAI_", "PERPLEXITY_", "CHAINLIT_", "RAG_", "OAUTH_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(CMO_HOME=str(tmp_path / "home"), KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
               KAFKA_TOPIC_PREFIX=settings.kafka_topic_prefix, KAFKA_PARTITIONS="2",
               KAFKA_MESSAGE_TIMEOUT_MS="60000", CMO_USERS_FILE=str(tmp_path / "users.json"),
               LIGHTRAG_WORKING_DIR=str(tmp_path / "lightrag"), LIGHTRAG_PAPERS_DIR=str(tmp_path / "papers"),
               CMO_USER_ID_KEY=USER_KEY, PYTHONUNBUFFERED="1")
    return env


@contextmanager
def service(name: str, cmd: list[str], env: dict[str, str], cwd: Path, ready: str,
            timeout: float = 60) -> Iterator[subprocess.Popen[bytes]]:
    """A server subprocess in its own process group, up once ``ready`` answers 200."""
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(ready, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{name} not ready after {timeout}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def last_assistant_text(page: Any) -> str:
    return str(page.locator("[data-step-type='assistant_message']").last.inner_text())


def ask(page: Any, question: str, until: str, timeout_ms: int = 45_000) -> str:
    before = page.locator("[data-step-type='assistant_message']").count()
    page.fill("#chat-input", question)
    page.keyboard.press("Enter")
    page.wait_for_function(
        """([n, text]) => {
             const msgs = document.querySelectorAll("[data-step-type='assistant_message']");
             return msgs.length > n && msgs[msgs.length - 1].innerText.includes(text);
           }""", arg=[before, until], timeout=timeout_ms)
    page.wait_for_selector("#stop-button", state="detached")  # the run is over
    return last_assistant_text(page)


def translate_to_german(body: dict[str, Any]) -> str:
    assert "German" in body["messages"][0]["content"]
    return "Bei der Ahornsirupkrankheit reichern sich Leucin, Isoleucin und Valin an. [1]"


@pytest.fixture
def model_server() -> Iterator[FakeOpenAI]:
    """The chat's translation model (a paid API): the loopback OpenAI-compatible fake."""
    with serve(FakeOpenAI(chat_reply=translate_to_german)) as fake:
        yield fake


def test_chat_login_answer_feedback_errors_and_events(settings: Settings, tmp_path: Path, model_server: FakeOpenAI,
                                                      serializer: SingleObjectSerializer) -> None:
    require_chromium()
    (tmp_path / "papers").mkdir()
    env = base_env(settings, tmp_path)

    # a user, created through the CLI (bcrypt hash, file mode 0600)
    added = subprocess.run([sys.executable, "-m", "cmo", "users", "add", LOGIN, "--password-stdin"],
                           input=PASSWORD + "\n", capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
                           timeout=60)
    assert added.returncode == 0, added.stderr
    users_file = tmp_path / "users.json"
    assert users_file.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in users_file.read_text() and "$2b$" in users_file.read_text()

    rag_port, ui_port = free_port(), free_port()
    rag_url = f"http://127.0.0.1:{rag_port}"
    ui_url = f"http://127.0.0.1:{ui_port}"
    env_ui = {**env, "RAG_SERVICE_URL": rag_url, "CHAINLIT_AUTH_SECRET": secrets.token_urlsafe(48),
              "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": model_server.url, "OPENAI_MAX_RETRIES": "0"}

    # without CHAINLIT_AUTH_SECRET the chat refuses to start, with a clear message
    refused = subprocess.run([sys.executable, "-m", "cmo", "ui", "--check"], capture_output=True, text=True, check=False,
                             env=env, cwd=tmp_path, timeout=60)
    assert refused.returncode == 1 and "CHAINLIT_AUTH_SECRET: required" in refused.stderr

    rag = service("rag_service", [sys.executable, "-m", "rag_service", "--host", "127.0.0.1",
                                  "--port", str(rag_port)], env, tmp_path, f"{rag_url}/health")
    with rag as rag_proc, service("chat", [sys.executable, "-m", "cmo", "ui", "--host", "127.0.0.1",
                                           "--port", str(ui_port)], env_ui, tmp_path,
                                  f"{ui_url}/health"), browser_session() as session:
        page = session.page
        page.set_default_timeout(20_000)

        # wrong password: refused
        page.goto(f"{ui_url}/login")
        page.fill("#email", LOGIN)
        page.fill("#password", "not the password")
        page.click("button[type='submit']")
        page.wait_for_selector("text=/credentials|Unauthorized|invalid/i")
        assert "/login" in page.url
        session.screenshot("chat-login-refused")

        # right password: the welcome message
        page.fill("#password", PASSWORD)
        page.click("button[type='submit']")
        page.wait_for_selector("text=Welcome to the Clinical Metabolomics Oracle")
        session.screenshot("chat-welcome")

        # query mode from the chat settings
        page.click("#chat-settings-open-modal")
        page.click("#mode")
        page.get_by_role("option", name="naive").click()
        session.screenshot("chat-settings")
        page.get_by_role("button", name="Confirm").click()

        # empty knowledge base: a clear message, the session goes on
        empty = ask(page, QUESTION, "knowledge base has no answer")
        assert "cmo ingest" in empty

        with open(PAPER, "rb") as f:
            up = httpx.post(f"{rag_url}/v1/documents", files={"file": (PAPER.name, f, "application/pdf")},
                            timeout=120)
        assert up.status_code == 201, up.text

        # a cited answer with source indicator and quality badge
        text = ask(page, QUESTION, "Quality:")
        assert "[1]" in text and "Source: knowledge graph" in text
        assert any(label in text for label in ("Excellent", "Good", "Acceptable", "Low quality"))
        # one source card per citation: [n], paper title, page, quoted passage
        cited = sorted(set(re.findall(r"\[(\d+)\]", text.split("Source:")[0])), key=int)
        sources = page.locator("[data-step-type='assistant_message']").last.locator(".inline-text")
        sources.nth(len(cited) - 1).locator("blockquote").wait_for()
        assert sources.count() == len(cited) >= 1
        cards = [sources.nth(i).locator("xpath=../..").inner_text() for i in range(sources.count())]
        assert all(c.startswith(f"[{n}]") and "p. " in c for n, c in enumerate(cards, start=1)), cards
        assert "Inborn Errors of Metabolism" in cards[0]  # the cited paper's title
        assert sources.first.locator("blockquote").inner_text().strip()
        sources.first.scroll_into_view_if_needed()
        session.screenshot("chat-answer")
        page.get_by_text("Routing and retrieval").last.click()
        page.wait_for_selector("text=/backend: lightrag · reason: /")
        page.wait_for_selector("text=/cited passage\\(s\\) from 1 source/")
        page.get_by_text("Routing and retrieval").last.scroll_into_view_if_needed()
        page.wait_for_timeout(400)  # let the step finish unfolding
        session.screenshot("chat-routing")

        # thumbs up with a comment
        page.locator(".positive-feedback-off").last.click()
        page.locator("textarea").last.fill("Clear and well cited.")
        page.click("#submit-feedback")
        page.wait_for_selector(".positive-feedback-on")
        session.screenshot("chat-feedback")

        # a German question: the answer in German (through the model), quotes stay original
        german = ask(page, GERMAN, "Translated into German")
        assert german.startswith("Bei der Ahornsirupkrankheit reichern sich") and "[1]" in german
        assert "Source: knowledge graph" in german
        session.screenshot("chat-translated")

        # backend down: a clear message, the question still recorded
        stop(rag_proc)
        down = ask(page, "What does NMR measure in urine?", "not reachable")
        assert "try again" in down
        session.screenshot("chat-backend-down")
        assert session.external_requests == []
        assert session.requests and all(r.startswith(("http://127.0.0.1", "data:", "blob:"))
                                        for r in session.requests)

    expected_user = hmac.new(USER_KEY.encode(), LOGIN.encode(), hashlib.sha256).hexdigest()[:32]
    streams = [topic_name(settings.kafka_topic_prefix, t)
               for t in (QueryReceived, RoutingDecision, ResponseGenerated, UserFeedback)]
    with make_producer(settings.model_copy(update={"cmo_home": tmp_path / "reader"}), "reader",
                       serializer) as dlq:
        got = [c.event for c in consume_events(
            settings.kafka_bootstrap_servers, streams, serializer, dlq, settings.kafka_topic_prefix,
            lambda g: (sum(isinstance(c.event, QueryReceived) for c in g) >= 4
                       and any(isinstance(c.event, UserFeedback) for c in g)), timeout=30)]

    queries = [e for e in got if isinstance(e, QueryReceived)]
    assert len(queries) == 4  # exactly one per user message
    assert all(q.user_id == expected_user and q.channel == "ui" for q in queries)
    assert not any(LOGIN in repr(e) for e in got)
    assert len({q.session_id for q in queries}) == 1 and queries[0].session_id
    first, answered, translated, offline = sorted(queries, key=lambda q: q.event_time)
    assert translated.language == "de" and translated.query_text == GERMAN
    assert answered.query_text == QUESTION and answered.language == "en"
    assert first.mode == answered.mode == "naive"

    def of(kind: type, query: QueryReceived) -> list[Any]:
        return [e for e in got if isinstance(e, kind) and e.correlation_id == query.correlation_id]

    # empty knowledge base: routed, then an error response
    assert of(RoutingDecision, first)
    assert any(r.error and "no answer" in r.error for r in of(ResponseGenerated, first))
    # the answered question: routing, a cited LightRAG response, the feedback on that response
    routing = of(RoutingDecision, answered)
    assert routing and routing[0].user_id == expected_user and routing[0].session_id == answered.session_id
    response = [r for r in of(ResponseGenerated, answered) if not r.error]
    assert len(response) == 1 and response[0].backend == "lightrag" and response[0].citations
    feedback = of(UserFeedback, answered)
    assert len(feedback) == 1
    assert feedback[0].rating == 1 and feedback[0].comment == "Clear and well cited."
    assert feedback[0].user_id == expected_user and feedback[0].session_id == answered.session_id
    assert feedback[0].response_event_id == response[0].event_id
    # backend down: the chat recorded the question and the error itself
    assert offline.service == "ui"
    down_response = of(ResponseGenerated, offline)
    assert len(down_response) == 1 and down_response[0].error_kind == "unavailable"


def sse_events(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    out, kind = [], ""
    for line in lines:
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            out.append((kind, json.loads(line[5:])))
    return out


def test_ask_streams_routing_then_deltas_then_the_answer(settings: Settings, tmp_path: Path) -> None:
    """The stream the chat reads: ``POST /v1/ask`` with ``"stream": true``."""
    papers = tmp_path / "papers"
    papers.mkdir()
    s = settings.model_copy(update={"lightrag_working_dir": tmp_path / "lightrag", "lightrag_papers_dir": papers})
    body = {"question": QUESTION, "user_id": "u-hmac", "session_id": "s-1", "mode": "naive", "stream": True,
            "query_id": "q-empty"}
    with TestClient(create_app(s)) as client:
        with client.stream("POST", "/v1/ask", json=body) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            empty = sse_events(list(resp.iter_lines()))
        assert [k for k, _ in empty] == ["routing", "error"]
        assert empty[1][1] == {"detail": "lightrag failed: the knowledge base has no answer to this question",
                               "query_id": "q-empty"}
        with open(PAPER, "rb") as f:
            assert client.post("/v1/documents", files={"file": (PAPER.name, f, "application/pdf")}).status_code == 201
        with client.stream("POST", "/v1/ask", json={**body, "query_id": "q-1"}) as resp:
            got = sse_events(list(resp.iter_lines()))
        assert client.post("/v1/ask", json={**body, "question": " "}).status_code == 422
    kinds = [k for k, _ in got]
    assert kinds[0] == "routing" and kinds[-1] == "answer" and "delta" in kinds
    routing, final = got[0][1], got[-1][1]
    assert routing["query_id"] == "q-1" and routing["backend"] == "lightrag" and routing["reason"]
    assert final["query_id"] == "q-1" and final["citations"] and final["quality"]["composite"] > 0
    assert final["response_event_id"] and final["route"]["backend"] == "lightrag"
    assert "".join(d["text"] for k, d in got if k == "delta").strip() == final["text"].strip()
