"""Preparing a turn: everything that can be checked before a stream starts (model, prompt,
voice, sizes, what is disabled and why), resolved into one ``PreparedTurn``.

Anything wrong raises ``ConfigError`` naming the request field, so the API can answer 400/422
before it opens a stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from playground.agent.nodes import exit_tool_schema
from playground.agent.tools import tool_schemas
from playground.catalog import CatalogEntry, Credentials
from playground.checks.reply_checks import ReplyChecks
from playground.checks.streaming_guardrail import StreamingGuardrail
from playground.errors import BusyError, ConfigError, UnsupportedValueError
from playground.pricing.table import Price
from playground.prompts.library import PromptFile
from playground.prompts.store import parse_document
from playground.providers.base import (
    ChatMessage,
    GenerationOptions,
    LLMProvider,
    QueuedProvider,
    SpeechSession,
)
from playground.providers.openai_responses import OpenAIResponsesModel
from playground.reasoning import effort_problem, family_of
from playground.services import Services
from playground.turn.capabilities import disabled_for
from playground.turn.events import DisabledFeature, NodeKind, TurnStarted
from playground.turn.request import TurnRequest

__all__ = ["PreparedTurn", "prepare_turn"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class PreparedTurn:
    turn_id: str
    request: TurnRequest
    model: CatalogEntry
    llm: LLMProvider
    prompt: PromptFile
    node: NodeKind
    messages: list[ChatMessage]
    options: GenerationOptions
    voice: CatalogEntry | None
    speech: SpeechSession | None
    disabled: tuple[DisabledFeature, ...]
    voice_key: str | None = field(default=None, repr=False)
    checks: ReplyChecks = field(default_factory=ReplyChecks)
    guardrail: StreamingGuardrail | None = None
    # The model's price (None: unknown, so the run's cost is unknown, never 0).
    price: Price | None = None
    stop_signal: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)
    # Set with the stop when the user spoke over the answer (a barge-in): the completion says
    # "interrupted", so every surface and the notebook tell it from a Stop.
    spoken_over: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)

    def request_stop(self, *, interrupted: bool = False) -> None:
        """End the turn early, keeping what was produced (safe from any task on the loop);
        ``interrupted``: because the user spoke over it."""
        if interrupted:
            self.spoken_over.set()
        self.stop_signal.set()

    def busy(self) -> BusyError | None:
        """Why the model could not take this turn now (the in-process model with its queue
        full), so a surface can refuse it before it opens a stream; None when it would run."""
        if isinstance(self.llm, QueuedProvider):
            return self.llm.refusal(self.options.client)
        return None

    def queue_positions(self) -> AsyncGenerator[int, None] | None:
        """The turn's place in line for its model while it waits (1, 2, ...; 0 when not
        waiting), for a model that serves one turn at a time; None for the others."""
        if isinstance(self.llm, QueuedProvider):
            return self.llm.queue_positions(self.turn_id)
        return None

    def started_event(self) -> TurnStarted:
        return TurnStarted(
            turn_id=self.turn_id,
            model=self.model.id,
            prompt=self.prompt.ref,
            node=self.node,
            streaming=self.request.streaming,
            voice=self.voice.id if self.voice else None,
            disabled_features=self.disabled,
        )


def prepare_turn(
    services: Services, request: TurnRequest, creds: Credentials, client: str = ""
) -> PreparedTurn:
    """Validate ``request`` and build everything its stream needs; ``ConfigError`` names the
    field that is wrong. ``client`` says who asks (the shared local model serves clients in
    turn, not first come first served)."""
    _check_sizes(request, services)
    catalog = services.catalog
    model = _with_field("model", lambda: catalog.resolve_model(request.model, creds))
    prompt = _prompt_of(services, request)
    node: NodeKind = request.node or prompt.node
    voice = _with_field("voice", lambda: catalog.resolve_voice(request.voice, creds))
    disabled = disabled_for(
        prompt,
        model=model.id,
        node=node,
        streaming=request.streaming,
        voice=voice.id if voice else None,
        unavailable=services.checks.problems,
    )
    options, fixed = _reasoning_options(
        request, model, _options(request, prompt, tools_allowed=False)
    )
    disabled += fixed
    off = {d.name for d in disabled}
    tools_allowed = node == "agent" and "tool_calling" not in off
    wanted = {name for name, on in request.features.model_dump().items() if on}
    features = wanted - off
    turn_id = f"turn_{uuid.uuid4().hex[:16]}"
    options = dataclasses.replace(
        options,
        tools=_options(request, prompt, tools_allowed=tools_allowed).tools,
        client=client,
        turn_id=turn_id,
    )
    messages = _messages(request, prompt)
    llm = _with_field("model", lambda: services.engines.llm_for(model, creds))
    if isinstance(llm, OpenAIResponsesModel) and (unsent := llm.unsent(options)):
        disabled += (
            DisabledFeature(
                "_and_".join(unsent),
                f"{model.name} is served over the Responses API, which takes no "
                f"{' or '.join(unsent)}; not sent.",
            ),
        )
    speech = (
        _with_field(
            "voice",
            lambda: services.engines.tts_for(voice, creds).open_session(voice.name),
        )
        if voice
        else None
    )
    return PreparedTurn(
        turn_id=turn_id,
        request=request,
        model=model,
        llm=llm,
        prompt=prompt,
        node=node,
        messages=messages,
        options=options,
        voice=voice,
        speech=speech,
        disabled=disabled,
        voice_key=creds.key_for(voice.engine) if voice else None,
        price=services.prices.price_for(model.engine, model.name),
        checks=services.checks.reply_checks(
            features, prompt.output_schema, services.engines.moderation_for(creds)
        ),
        guardrail=services.checks.streaming_guardrail(features),
    )


def _check_sizes(request: TurnRequest, services: Services) -> None:
    s = services.settings
    if len(request.message) > s.playground_max_message_chars:
        raise ConfigError(
            f"message is {len(request.message)} characters; the limit is "
            f"{s.playground_max_message_chars}",
            field="message",
        )
    if len(request.history) > s.playground_max_history_messages:
        raise ConfigError(
            f"history has {len(request.history)} messages; the limit is "
            f"{s.playground_max_history_messages}",
            field="history",
        )


def _prompt_of(services: Services, request: TurnRequest) -> PromptFile:
    """The saved version the request names, or its unsaved draft (validated like a file)."""
    if request.prompt_draft is not None:
        return parse_document(request.prompt_draft, field="prompt_draft").as_draft()
    return _with_field("prompt", lambda: services.prompts.resolve(request.prompt, request.node))


def _options(request: TurnRequest, prompt: PromptFile, *, tools_allowed: bool) -> GenerationOptions:
    return GenerationOptions(
        stream=request.streaming,
        temperature=_first(request.temperature, prompt.defaults.temperature),
        max_tokens=_first(request.max_tokens, prompt.defaults.max_tokens),
        seed=_first(request.seed, prompt.defaults.seed),
        top_p=_first(request.top_p, prompt.defaults.top_p),
        stop=_first(request.stop, prompt.defaults.stop),
        tools=(
            tool_schemas(prompt.tools)
            + ((exit_tool_schema(prompt.exit_paths),) if prompt.exit_paths else ())
            if tools_allowed
            else ()
        ),
    )


def _reasoning_options(
    request: TurnRequest, model: CatalogEntry, options: GenerationOptions
) -> tuple[GenerationOptions, tuple[DisabledFeature, ...]]:
    """The options as the model's reasoning family takes them: its effort (checked), its token
    limit field, and no sampling fields for a model that rejects them (reported, not sent)."""
    if request.reasoning_effort is not None:
        problem = effort_problem(model.name, request.reasoning_effort)
        if problem is not None:
            raise UnsupportedValueError(problem, field="reasoning_effort")
    family = family_of(model.name)
    if family is None:
        return options, ()
    options = dataclasses.replace(
        options,
        reasoning_effort=request.reasoning_effort,
        token_limit_field="max_completion_tokens" if family.max_completion_tokens else "max_tokens",
    )
    if not family.fixed_sampling or (options.temperature is None and options.top_p is None):
        return options, ()
    note = DisabledFeature(
        "sampling",
        f"{model.name} is a reasoning model that samples at a fixed temperature, so "
        "temperature and top_p are not sent.",
        "Use reasoning_effort to trade speed for depth.",
    )
    return dataclasses.replace(options, temperature=None, top_p=None), (note,)


def _messages(request: TurnRequest, prompt: PromptFile) -> list[ChatMessage]:
    messages = [ChatMessage(role="system", content=prompt.render_system(request.variables))]
    messages += [ChatMessage(role=m.role, content=m.content) for m in request.history]
    messages.append(ChatMessage(role="user", content=request.message))
    return messages


def _with_field(field: str, build: Callable[[], _T]) -> _T:
    try:
        return build()
    except ConfigError as exc:
        if exc.field is None:
            exc.field = field
        raise


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
