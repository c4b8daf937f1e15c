"""The prompt registry, in the model registry's tables and rules.

A prompt is a registered model tagged ``mloop.kind = prompt``; each version's template (and the
model settings it was written for) is a JSON artifact, ``prompt/prompt.json``, of the run it was
registered from (the active run, or a run of the ``prompts`` experiment made for it). Versions,
aliases, tags and the audit log therefore work exactly as for models: ``mloop promote`` and
``mloop gate`` move a prompt's ``@champion`` as they move a model's, and every move is audited.

URIs: ``prompts:/<name>/<version>``, ``prompts:/<name>@<alias>``, ``prompts:/<name>`` (the latest).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from mloop._core import current_user, parse_models_uri
from mloop.errors import (
    InvalidArgument,
    ModelIntegrityError,
    NotAPrompt,
    RegisteredModelAlreadyExists,
    RegisteredModelNotFound,
)
from mloop.genai._template import PromptTemplate
from mloop.store import ModelVersion, RunStatus, Store
from mloop.store._context import current

KIND_TAG = "mloop.kind"
PROMPT_KIND = "prompt"
TEMPLATE_ARTIFACT = "prompt/prompt.json"
SHA_TAG = "mloop.prompt.sha256"
TYPE_TAG = "mloop.prompt.type"
VARIABLES_TAG = "mloop.prompt.variables"
PROMPTS_EXPERIMENT = "prompts"


@dataclass(frozen=True)
class Prompt:
    """One version of a registered prompt; :meth:`format` fills it in.

    Attributes:
        name, version: where it is registered (``prompts:/<name>/<version>``).
        template: the parsed template.
        model_config: the model settings the prompt was written for (``model``,
            ``temperature``, ...), as registered; ``{}`` when none.
        tags, aliases, run_id, description: from the model version.
    """

    name: str
    version: int
    template: PromptTemplate
    model_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    run_id: str | None = None
    description: str = ""

    @property
    def uri(self) -> str:
        return f"prompts:/{self.name}/{self.version}"

    @property
    def variables(self) -> list[str]:
        return self.template.variables

    @property
    def is_chat(self) -> bool:
        return self.template.is_chat

    def format(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Any:
        """The filled-in prompt: a string, or chat messages for a chat template.

        Raises:
            PromptVariableError: a variable missing, or one the template does not use.
        """
        return self.template.format(values, **kwargs)


def _to_models_uri(uri: str) -> str:
    if not isinstance(uri, str) or not uri.startswith("prompts:/"):
        raise InvalidArgument(
            "expected prompts:/<name>/<version>, prompts:/<name>@<alias> or prompts:/<name>, "
            f"got {uri!r:.120}"
        )
    return "models:/" + uri[len("prompts:/") :]


def _check_prompt_model(store: Store, name: str) -> None:
    model = store.get_registered_model(name)
    if model.tags.get(KIND_TAG) != PROMPT_KIND:
        raise NotAPrompt(
            f"registered model {name!r} is not a prompt (it has no tag {KIND_TAG}={PROMPT_KIND}); "
            "load it with mloop.models.load('models:/...') instead",
            details={"name": name},
        )


def _ensure_prompt_model(store: Store, name: str, actor: str) -> None:
    try:
        _check_prompt_model(store, name)
    except RegisteredModelNotFound:
        try:
            store.create_registered_model(
                name,
                tags={KIND_TAG: PROMPT_KIND},
                description="a prompt",
                actor=actor,
                reason="first prompt version",
            )
        except RegisteredModelAlreadyExists:  # registered meanwhile by another process
            _check_prompt_model(store, name)


def _document(template: PromptTemplate, model_config: Mapping[str, Any] | None) -> bytes:
    doc = {**template.to_json(), "model_config": dict(model_config or {})}
    try:
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise InvalidArgument(f"model_config must be JSON-serializable: {exc}") from None


def register_prompt(
    name: str,
    template: Any,
    *,
    model_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    description: str = "",
    reason: str = "",
    run_id: str | None = None,
    store: Store | None = None,
) -> Prompt:
    """Register ``template`` as the next version of the prompt ``name`` (created if needed).

    Args:
        name: the prompt's name (a registered model name).
        template: a string, or chat messages ``[{"role": "system", "content": "..."}, ...]``,
            with ``{{variables}}``.
        model_config: the model settings the prompt is meant for (``{"model": ...,
            "temperature": 0}``); stored with the template.
        tags, description, reason: of the version, as for a model version; ``reason`` goes to
            the audit log.
        run_id: the run to store the template in; default the active run, else a new run in
            the ``prompts`` experiment.
        store: default the current store.

    Returns:
        The registered :class:`Prompt`.

    Raises:
        InvalidArgument: an empty or malformed template, a bad name.
        NotAPrompt: ``name`` is a registered model that is not a prompt.

    Example::

        p = mloop.genai.register_prompt("summarize", "Summarize in {{n}} words: {{text}}")
        mloop.registry.set_alias("summarize", "production", p.version)
    """
    tpl = PromptTemplate.parse(template)
    body = _document(tpl, model_config)
    store = store if store is not None else current().store
    actor = current_user()
    _ensure_prompt_model(store, name, actor)
    made_run = False
    if run_id is None:
        from mloop.tracking import active_run

        active = active_run()
        # The active run holds the template only when it lives in the same store.
        if active is not None and active._client.store is store:
            run_id = active.run_id
    if run_id is None:
        try:
            exp = store.get_experiment_by_name(PROMPTS_EXPERIMENT)
        except LookupError:
            exp = store.create_experiment(PROMPTS_EXPERIMENT)
        run_id = store.create_run(
            exp.experiment_id, run_name=f"prompt {name}"[:250], user=actor
        ).info.run_id
        made_run = True
    store.put_artifact(run_id, TEMPLATE_ARTIFACT, io.BytesIO(body))
    if made_run:
        store.update_run(run_id, status=RunStatus.FINISHED)
    version_tags = {
        TYPE_TAG: "chat" if tpl.is_chat else "text",
        SHA_TAG: hashlib.sha256(body).hexdigest(),
        VARIABLES_TAG: ",".join(tpl.variables),
        **(tags or {}),
    }
    mv = store.create_model_version(
        name,
        f"runs:/{run_id}/prompt",
        run_id=run_id,
        tags=version_tags,
        description=description,
        actor=actor,
        reason=reason,
    )
    return Prompt(
        name=mv.name,
        version=mv.version,
        template=tpl,
        model_config=dict(model_config or {}),
        tags=mv.tags,
        aliases=tuple(mv.aliases),
        run_id=run_id,
        description=mv.description,
    )


def resolve_prompt_version(uri: str, store: Store | None = None) -> ModelVersion:
    """The model version a ``prompts:/`` URI names.

    Raises:
        InvalidArgument, NotAPrompt, RegisteredModelNotFound, ModelVersionNotFound.
    """
    store = store if store is not None else current().store
    parsed = parse_models_uri(_to_models_uri(uri))
    _check_prompt_model(store, parsed.name)
    if parsed.version is not None:
        return store.get_model_version(parsed.name, parsed.version)
    assert parsed.alias is not None
    return store.get_model_version_by_alias(parsed.name, parsed.alias)


def prompt_from_version(mv: ModelVersion, store: Store | None = None) -> Prompt:
    """Read a prompt version's template, checking it against the digest registered with it.

    Raises:
        ModelIntegrityError: the stored template changed since it was registered.
    """
    store = store if store is not None else current().store
    if mv.run_id is None:
        raise NotAPrompt(f"version {mv.version} of {mv.name!r} has no run holding its template")
    with store.open_artifact(mv.run_id, TEMPLATE_ARTIFACT) as f:
        body = f.read()
    want = mv.tags.get(SHA_TAG)
    if want is not None and hashlib.sha256(body).hexdigest() != want:
        raise ModelIntegrityError(
            f"the template of prompts:/{mv.name}/{mv.version} does not match the digest "
            "registered with it: the artifact was changed after registration"
        )
    doc = orjson.loads(body)
    return Prompt(
        name=mv.name,
        version=mv.version,
        template=PromptTemplate.from_json(doc),
        model_config=dict(doc.get("model_config") or {}),
        tags=dict(mv.tags),
        aliases=tuple(mv.aliases),
        run_id=mv.run_id,
        description=mv.description,
    )


def load_prompt(uri: str, *, store: Store | None = None) -> Prompt:
    """The prompt a URI names: ``prompts:/<name>@<alias>``, ``prompts:/<name>/<version>`` or
    ``prompts:/<name>`` (the latest version).

    Raises:
        InvalidArgument: not a ``prompts:/`` URI.
        NotAPrompt: the name is a model, not a prompt.
        RegisteredModelNotFound, ModelVersionNotFound: nothing by that name, version or alias.

    Example::

        prompt = mloop.genai.load_prompt("prompts:/summarize@production")
        text = prompt.format(n=20, text=article)
    """
    store = store if store is not None else current().store
    return prompt_from_version(resolve_prompt_version(uri, store), store)


def list_prompts(store: Store | None = None) -> list[Any]:
    """The registered models that are prompts, by name."""
    store = store if store is not None else current().store
    return [m for m in store.list_registered_models() if m.tags.get(KIND_TAG) == PROMPT_KIND]
