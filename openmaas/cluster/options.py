"""What cluster mode deploys, from the settings alone (no Ray import): checks and per-model options."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from openmaas.settings import Settings

# The Serve application and its fixed deployments.
APP_NAME = "openmaas"
INGRESS_DEPLOYMENT = "ingress"
LIMITS_DEPLOYMENT = "limits"
# Autoscaling reads each replica's load every second over the last 5 (a cold start answers in seconds).
METRICS_INTERVAL_S = 1.0
LOOK_BACK_PERIOD_S = 5.0
UPSCALE_DELAY_S = 2.0


class ClusterModeError(Exception):
    """Cluster mode cannot start with these settings (shown as one line, exit 1)."""


def check_cluster_settings(settings: Settings) -> None:
    """Cluster mode needs one database every replica shares: PostgreSQL."""
    url = settings.resolved_database_url
    if not url.startswith("postgresql"):
        raise ClusterModeError(
            "cluster mode needs PostgreSQL, shared by every replica: set OPENMAAS_DATABASE_URL to "
            "postgresql+psycopg://user:password@host/database (it is "
            f"{'unset, so SQLite in the home' if settings.database_url is None else 'not PostgreSQL'})"
        )


def deployment_name(model_id: str) -> str:
    """The Serve deployment of a model (Serve names may hold any character but '#')."""
    return "model:" + model_id.replace("#", "_")


@dataclass(frozen=True, slots=True)
class ModelDeploymentOptions:
    """How one model's deployment scales and what each replica reserves."""

    min_replicas: int
    max_replicas: int
    num_cpus: float
    num_gpus: float
    max_num_seqs: int

    @classmethod
    def for_model(cls, settings: Settings, model_id: str, max_num_seqs: int) -> ModelDeploymentOptions:
        own = settings.ray_models.get(model_id)
        min_replicas = settings.ray_min_replicas if own is None or own.min_replicas is None else own.min_replicas
        max_replicas = settings.ray_max_replicas if own is None or own.max_replicas is None else own.max_replicas
        if min_replicas > max_replicas:
            raise ClusterModeError(f"OPENMAAS_RAY_MODELS: {model_id}: min_replicas exceeds max_replicas")
        return cls(
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            num_cpus=settings.ray_num_cpus if own is None or own.num_cpus is None else own.num_cpus,
            num_gpus=settings.ray_num_gpus if own is None or own.num_gpus is None else own.num_gpus,
            max_num_seqs=max_num_seqs,
        )

    @property
    def num_threads(self) -> int:
        """llama.cpp threads of a replica: the CPUs it reserves (at least one)."""
        return max(1, math.floor(self.num_cpus))

    @property
    def max_ongoing_requests(self) -> int:
        """Requests one replica takes at once: its decode batch, and as many again waiting in its engine."""
        return 2 * self.max_num_seqs

    def autoscaling_config(self, downscale_delay: float) -> dict[str, Any]:
        """Serve's autoscaling_config: min_replicas 0 scales to zero when idle; a replica is added while
        the ongoing requests per replica stay above half the engine's decode batch."""
        return {
            "min_replicas": self.min_replicas,
            "initial_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "target_ongoing_requests": max(1, self.max_num_seqs // 2),
            "metrics_interval_s": METRICS_INTERVAL_S,
            "look_back_period_s": LOOK_BACK_PERIOD_S,
            "upscale_delay_s": UPSCALE_DELAY_S,
            "downscale_delay_s": downscale_delay,
        }

    def ray_actor_options(self) -> dict[str, Any]:
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
