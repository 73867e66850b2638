"""Schemathesis hooks for the API fuzz test: some generated requests name what this server serves.

Random model ids, deployment names and key ids only reach the 404 paths; swapping in the
served model, a deployment or a real id half the time lets the fuzzer reach generation, the
catalog and the keys with its odd values. Loaded by name (SCHEMATHESIS_HOOKS).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st

MODEL = "gemma-3-270m"
DEPLOYMENTS = ["plain", "short"]


@schemathesis.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        return st.sampled_from([body, {**body, "model": MODEL}])
    return st.just(body)


@schemathesis.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy[Any]:
    if not path_parameters:
        return st.just(path_parameters)
    choices = [path_parameters]
    if "model_id" in path_parameters:
        choices.append({**path_parameters, "model_id": MODEL})
    if "deployment" in path_parameters:
        choices += [{**path_parameters, "deployment": name} for name in DEPLOYMENTS]
    if "name" in path_parameters:
        choices += [{**path_parameters, "name": name} for name in DEPLOYMENTS]
    return st.sampled_from(choices)
