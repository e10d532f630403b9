"""The chat (Chainlit): ``cmo ui``, or ``chainlit run ui/app.py`` with CHAINLIT_APP_ROOT set.

Each question goes to rag_service's router over HTTP (``RAG_SERVICE_URL``, streamed):
a step shows the routing decision and what was retrieved, the answer streams in, then
the final message shows numbered citations (source elements [n] with paper, page and
quoted passage), the source indicator and the quality badge. Feedback buttons publish
UserFeedback. Errors become a plain message in the chat and an event; the session goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from typing import Any

import chainlit as cl
from chainlit.config import config, config_file
from chainlit.input_widget import Select
from chainlit.oauth_providers import get_configured_oauth_providers
from chainlit.utils import utc_now

from cmo.adapters.factory import make_producer
from cmo.adapters.language import detect_language
from cmo.adapters.openai_models import OpenAIModels
from cmo.config import load_settings
from cmo.quality.factory import model_config
from ui import offline_assets
from ui.answer_view import (
    MODES,
    citation_views,
    error_kind,
    error_message,
    render_answer,
    retrieval_summary,
    routing_summary,
)
from ui.feedback_layer import FeedbackDataLayer, RatedAnswer
from ui.login import Logins
from ui.rag_client import BackendError, RagClient
from ui.startup import environment_problems, has_password_users
from ui.translation import Translator, needs_translation
from ui.ui_events import ChatEvents

logger = logging.getLogger("ui.app")

settings = load_settings()
_problems = environment_problems(settings, os.environ)
if _problems:
    raise SystemExit("the chat cannot start:\n" + "\n".join(f"  - {p}" for p in _problems))
if config.ui.name != "Clinical Metabolomics Oracle":
    raise SystemExit(f"the chat cannot start: Chainlit read {config_file}, not the chat's config; "
                     "start it with `cmo ui` (or set CHAINLIT_APP_ROOT to a folder holding "
                     "ui/.chainlit/config.toml)")

offline_assets.install()
logins = Logins(settings)
producer = make_producer(settings, "ui")
events = ChatEvents(producer)
feedback_layer = FeedbackDataLayer(events)
_models_config = model_config(settings)
translator = Translator(OpenAIModels(_models_config) if _models_config else None)
threading.Thread(target=detect_language, args=("warm up the language detector",), daemon=True).start()

WELCOME = """**Welcome to the Clinical Metabolomics Oracle.**

Ask a research question about clinical metabolomics. Every statement in an answer is
numbered like [1] and linked to its source: paper title, page and the quoted passage.
Each answer says whether it comes from the lab's **knowledge graph** or from **web search**,
and how good it is (Excellent, Good, Acceptable or Low quality).

Pick the query mode under the settings icon (hybrid, mix, local, global or naive).
Rate answers with thumbs up or down, optionally with a comment."""


@cl.data_layer
def _data_layer() -> FeedbackDataLayer:
    return feedback_layer


login_methods: list[str] = []
if has_password_users(settings):
    login_methods.append("password")

    @cl.password_auth_callback
    async def _password(username: str, password: str) -> cl.User | None:
        if await logins.check_password(username, password):
            return cl.User(identifier=username, metadata={"provider": "password"})
        return None

if settings.cmo_ui_header_auth:
    login_methods.append("header")

    @cl.header_auth_callback
    async def _header(headers: Any) -> cl.User | None:
        login = logins.header_login(headers)
        return cl.User(identifier=login, metadata={"provider": "header"}) if login else None

if get_configured_oauth_providers():
    login_methods.append("oauth")

    @cl.oauth_callback
    async def _oauth(provider_id: str, token: str, raw_user_data: dict[str, str],
                     default_user: cl.User, id_token: str | None = None) -> cl.User | None:
        # provider-qualified, so "ana" on GitHub is not the password user "ana"
        return cl.User(identifier=f"{provider_id}:{default_user.identifier}",
                       display_name=default_user.display_name, metadata={"provider": provider_id})

if not login_methods:  # auth is never off: refuse to serve an open chat
    raise SystemExit("the chat cannot start: no login method (add a user with `cmo users add NAME`, "
                     "or configure OAuth or CMO_UI_HEADER_AUTH)")
logger.info("chat ready; logins: %s", ", ".join(login_methods))


@cl.on_app_shutdown
async def _shutdown() -> None:
    await translator.close()
    producer.close(timeout=5)


@cl.on_chat_start
async def start() -> None:
    user: cl.User | None = cl.user_session.get("user")
    if user is None:  # cannot happen with auth on; refuse rather than guess an identity
        await cl.Message(content="⚠ Please log in.").send()
        return
    cl.user_session.set("user_id", logins.user_id(user.identifier))
    cl.user_session.set("mode", "hybrid")
    widgets: list[Any] = [Select(id="mode", label="Query mode", values=list(MODES), initial_index=0,
                                 description="How the knowledge graph is searched")]
    await cl.ChatSettings(widgets).send()
    await cl.Message(content=WELCOME).send()


@cl.on_settings_update
async def settings_update(values: dict[str, Any]) -> None:
    if values.get("mode") in MODES:
        cl.user_session.set("mode", values["mode"])


@cl.on_message
async def on_message(message: cl.Message) -> None:
    question = message.content.strip()
    user_id: str = cl.user_session.get("user_id") or ""
    session_id = cl.context.session.thread_id
    mode: str = cl.user_session.get("mode") or "hybrid"
    query_id = str(uuid.uuid4())
    run = cl.context.current_run
    answer_msg = cl.Message(content="")
    try:
        language = await asyncio.to_thread(detect_language, question)
        if run is not None:
            feedback_layer.register(run.id, RatedAnswer(query_id, session_id, user_id, None))
        await answer(question, user_id, session_id, mode, query_id, language, answer_msg, run)
    except Exception as exc:
        logger.exception("query %s failed in the chat", query_id)
        events.failed(query_id, question, mode, f"chat error: {exc}")
        answer_msg.content = error_message("failed", "an unexpected error in the chat; it was recorded")
        await answer_msg.send()


async def answer(question: str, user_id: str, session_id: str, mode: str, query_id: str,
                 language: str | None, msg: cl.Message, run: Any) -> None:
    translate = needs_translation(language) and translator.available
    step = cl.Step(name="Routing and retrieval", type="retrieval", parent_id=run.id if run else None,
                   show_input=False, default_open=False)
    step.start = utc_now()
    await step.send()
    routes: list[dict[str, Any]] = []
    finished = False
    client = RagClient(settings.rag_service_url, settings.cmo_ui_timeout_s)
    try:
        async for event in client.ask({"question": question, "user_id": user_id, "session_id": session_id,
                                       "mode": mode, "query_id": query_id, "channel": "ui",
                                       "language": language}):
            if event.kind == "routing":
                routes.append(event.data)
                step.output = "\n".join(f"- {routing_summary(r)}" for r in routes)
                await step.update()
            elif event.kind == "delta" and not translate:
                await msg.stream_token(str(event.data.get("text", "")))
            elif event.kind == "answer":
                finished = True
                await final_answer(event.data, language, msg, run, query_id, session_id, user_id)
                step.output += "\n\n**Retrieval:** " + retrieval_summary(event.data)
            elif event.kind == "error":
                finished = True
                reason = routes[0].get("reason") if routes else None
                detail = str(event.data.get("detail", ""))
                step.output += f"\n\n**Failed:** {detail}"
                msg.content = error_message(error_kind(detail, reason), detail)
                await msg.send()
        if not finished:
            step.output += "\n\n**Failed:** the answer stream ended early"
            events.failed(query_id, question, mode, "the answer stream from rag_service ended early")
            msg.content = error_message("failed", "the answer service stopped before answering")
            await msg.send()
    except BackendError as exc:
        kind = "backend-down" if exc.unreachable else ("invalid" if exc.status and exc.status < 500
                                                       else "failed")
        events.unanswered(query_id, session_id, user_id, question, mode, language, str(exc),
                          "unavailable" if exc.retriable else "bad_request")
        step.output += f"\n\n**Failed:** {exc}"
        msg.content = error_message(kind, str(exc))
        await msg.send()
    finally:
        await client.close()
        step.end = utc_now()
        await step.update()


async def final_answer(data: dict[str, Any], language: str | None, msg: cl.Message, run: Any,
                       query_id: str, session_id: str, user_id: str) -> None:
    text: str | None = None
    notes: tuple[str, ...] = ()
    if needs_translation(language) and language:
        translated, note = await translator.translate(str(data.get("text") or ""), language)
        text, notes = translated, (note,)
    msg.content = render_answer(data, text, notes)
    if run is not None:
        feedback_layer.register(run.id, RatedAnswer(query_id, session_id, user_id,
                                                    data.get("response_event_id")))
    if msg.streaming:
        await msg.update()
    else:
        await msg.send()
    # one source element per citation, sent one by one so they show in citation order
    for view in citation_views(list(data.get("citations") or [])):
        await cl.Text(name=view.name, content=view.content, display="inline").send(for_id=msg.id)
