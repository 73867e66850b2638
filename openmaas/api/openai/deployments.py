"""Deployment endpoints: /{deployment}/v1/chat/completions, /completions and /embeddings.

A deployment (``control/deployments.py``) binds a name to one served model and
its own generation defaults. A request is served by ``CompletionsServing`` in
OpenAI's shape after the defaults are applied: the request model is built again
from the deployment's defaults with the client's own non-null fields over them.
The wire models add the endpoint specification's ``end_id`` (one more stop token
id) and ``random_sed`` (another spelling of ``seed``). Embeddings use the
deployment's model; generation defaults do not apply to them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AliasChoices, Field, ValidationError

from openmaas.api.completions.protocol import ChatCompletionRequest, CompletionRequest
from openmaas.api.context import current_request
from openmaas.api.deps import CompletionsServingDep, EmbeddingsServingDep, FleetDep
from openmaas.api.embeddings.protocol import EmbeddingRequest
from openmaas.api.json_body import ThreadedJsonRoute
from openmaas.control.deployments import Deployment, DeploymentNotFound, Deployments, DeploymentsFileError
from openmaas.engine import SamplingParams
from openmaas.errors import InvalidRequest, ModelNotFound, OpenmaasError
from openmaas.fleet.fleet import ModelFleet

# Seeds: the specification spells the field random_sed; seed is OpenAI's name.
_SEED_ALIASES = AliasChoices("seed", "random_sed")


def _with_end_id(params: SamplingParams, end_id: int | None) -> SamplingParams:
    if end_id is None or end_id in params.stop_token_ids:
        return params
    return replace(params, stop_token_ids=(*params.stop_token_ids, end_id))


class DeploymentChatRequest(ChatCompletionRequest):
    """Chat on a deployment: ``model`` may be left out (the deployment's model is used)."""

    model: str = ""
    seed: int | None = Field(None, validation_alias=_SEED_ALIASES)
    end_id: int | None = None

    def to_sampling_params(self, choice_index: int = 0) -> SamplingParams:
        return _with_end_id(super().to_sampling_params(choice_index), self.end_id)


class DeploymentCompletionRequest(CompletionRequest):
    """A completion on a deployment: a raw prompt, no chat template."""

    model: str = ""
    seed: int | None = Field(None, validation_alias=_SEED_ALIASES)
    end_id: int | None = None

    def to_sampling_params(self, choice_index: int = 0) -> SamplingParams:
        return _with_end_id(super().to_sampling_params(choice_index), self.end_id)


DeploymentRequest = TypeVar("DeploymentRequest", DeploymentChatRequest, DeploymentCompletionRequest)


def with_defaults(deployment: Deployment, body: DeploymentRequest, fleet: ModelFleet) -> DeploymentRequest:
    """The request as served: the deployment's defaults under the client's own (non-null) values.

    ``model`` may be absent, the deployment's name, or any name of the deployment's
    model (its id or an alias, echoed back); naming another model is a 404
    ``model_not_found``, as vLLM answers a model it does not serve.
    """
    entry = fleet.entry(deployment.model)
    model = deployment_model_name(deployment, body.model, fleet)
    # Known once the model is loaded; else the engine refuses the id among the stop tokens.
    n_vocab = entry.served.engine.model_info.n_vocab if entry.served is not None else None
    if body.end_id is not None and n_vocab is not None and not 0 <= body.end_id < n_vocab:
        raise InvalidRequest(f"end_id must be a token id in [0, {n_vocab})", param="end_id")
    # null means "not set", as in vLLM's server defaults: the deployment's value applies.
    # Unknown fields (already logged, and ignored) are left behind.
    known = type(body).model_fields
    sent = {name: getattr(body, name) for name in body.model_fields_set if name in known}
    sent = {name: value for name, value in sent.items() if value is not None}
    defaults = deployment.defaults.request_fields()
    if deployment.keep_alive is not None:
        defaults["keep_alive"] = deployment.keep_alive
    return type(body).model_validate({**defaults, **sent, "model": model})


def deployment_model_name(deployment: Deployment, model: str, fleet: ModelFleet) -> str:
    """The model name a request on the deployment uses: its own, if it names the deployment's model."""
    if not model or model == deployment.name:
        return deployment.model
    if model not in fleet.entry(deployment.model).source.names:
        raise ModelNotFound(
            f"The deployment '{deployment.name}' serves the model '{deployment.model}', not '{model}'",
            param="model",
        )
    return model


def get_deployments(request: Request) -> Deployments:
    deployments: Deployments = request.app.state.deployments
    return deployments


async def get_deployment(deployment: str, request: Request, fleet: FleetDep) -> Deployment:
    """The deployment the path names; 404 ``deployment_not_found`` before the body is looked at,
    also for a deployment the caller's key may not use (as if it did not exist)."""
    found = get_deployments(request).get(deployment)
    context = current_request()
    context.deployment = found.name  # the call's record names it
    try:
        names = fleet.entry(found.model).source.names
    except ModelNotFound:
        names = (found.model,)
    if not context.may_use(names):
        raise DeploymentNotFound(f"The deployment '{deployment}' does not exist")
    return found


DeploymentDep = Annotated[Deployment, Depends(get_deployment)]

router = APIRouter(prefix="/{deployment}/v1", tags=["deployments"], route_class=ThreadedJsonRoute)


@router.post("/chat/completions", response_model=None)
async def deployment_chat_completion(
    body: DeploymentChatRequest,
    request: Request,
    target: DeploymentDep,
    fleet: FleetDep,
    serving: CompletionsServingDep,
) -> JSONResponse | StreamingResponse:
    return await serving.chat(with_defaults(target, body, fleet), request)


@router.post("/completions", response_model=None)
async def deployment_completion(
    body: DeploymentCompletionRequest,
    request: Request,
    target: DeploymentDep,
    fleet: FleetDep,
    serving: CompletionsServingDep,
) -> JSONResponse | StreamingResponse:
    return await serving.completions(with_defaults(target, body, fleet), request)


class DeploymentEmbeddingRequest(EmbeddingRequest):
    """Embeddings on a deployment: ``model`` may be left out (the deployment's model is used)."""

    model: str = ""


@router.post("/embeddings")
async def deployment_embeddings(
    body: DeploymentEmbeddingRequest,
    request: Request,
    target: DeploymentDep,
    fleet: FleetDep,
    serving: EmbeddingsServingDep,
) -> JSONResponse:
    """The deployment's model embeds; its generation defaults do not apply."""
    body.model = deployment_model_name(target, body.model, fleet)
    return await serving.create(body, request)


@router.get("/models")
async def deployment_models(target: DeploymentDep, serving: CompletionsServingDep) -> dict[str, Any]:
    """The deployment's model, for clients that list models under their base URL."""
    return {"object": "list", "data": [serving.get_model(target.model)]}


def check_deployments(deployments: Deployments, fleet: ModelFleet) -> None:
    """At start-up, once the models are loaded: every deployment names a served model and its
    defaults make valid sampling parameters. DeploymentsFileError otherwise."""
    for deployment in deployments.list():
        where = f"deployments.{deployment.name}"
        try:
            entry = fleet.entry(deployment.model)
        except ModelNotFound:
            served_names = ", ".join(name for e in fleet.entries() for name in e.source.names)
            raise DeploymentsFileError(
                f"{where}.model: '{deployment.model}' is not a served model (served: {served_names})"
            ) from None
        end_id = deployment.defaults.end_id
        n_vocab = entry.served.engine.model_info.n_vocab if entry.served is not None else None
        if end_id is not None and n_vocab is not None and end_id >= n_vocab:
            raise DeploymentsFileError(f"{where}.defaults.end_id: {end_id} is not a token id (vocabulary: {n_vocab})")
        fields = deployment.defaults.request_fields()
        try:
            DeploymentCompletionRequest.model_validate({**fields, "prompt": ""}).to_sampling_params()
        except (ValidationError, OpenmaasError) as exc:
            message = exc.message if isinstance(exc, OpenmaasError) else str(exc)
            raise DeploymentsFileError(f"{where}.defaults: {message}") from None
