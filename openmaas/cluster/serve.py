"""`openmaas serve --ray [ADDRESS]`: deploys the Serve application and keeps it until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from openmaas.cluster.options import APP_NAME, check_cluster_settings
from openmaas.settings import Settings

logger = logging.getLogger(__name__)

# Ray's dashboard reads this file at start; without it, it asks cloud metadata addresses which cloud it
# runs in. A cluster started here gets a HOME holding one, so nothing leaves the machine.
BOOTSTRAP_CONFIG = "provider:\n  type: local\n"


def local_ray_home(home: Path) -> Path:
    """A HOME for the Ray processes of a local cluster, holding ray_bootstrap_config.yaml."""
    ray_home = home / "ray"
    ray_home.mkdir(parents=True, exist_ok=True)
    config = ray_home / "ray_bootstrap_config.yaml"
    if not config.exists():
        config.write_text(BOOTSTRAP_CONFIG)
    return ray_home


def serve_on_ray(settings: Settings, address: str) -> int:
    """Connects to the cluster at address ('auto', an address, or 'local': a cluster of this
    machine, started here and ended on exit), deploys the application, and waits for a signal."""
    check_cluster_settings(settings)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    is_local = address == "local"
    if is_local:
        # Inherited by the processes ray.init starts (the replicas' settings carry the home already).
        os.environ["HOME"] = str(local_ray_home(settings.home))
    # Imported here: single-process mode never loads Ray.
    import ray
    from ray import serve

    from openmaas.cluster.application import build_application, plan_models

    plans = plan_models(settings)
    ray.init(address=address, namespace=APP_NAME, log_to_driver=False)
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
        serve.run(build_application(settings, plans), name=APP_NAME, route_prefix="/")
        names = ", ".join(f"{p.model_id} ({p.options.min_replicas}-{p.options.max_replicas} replicas)" for p in plans)
        sys.stderr.write(
            f"openmaas: serving on http://{settings.host}:{settings.port} with Ray Serve "
            f"(application '{APP_NAME}', {settings.ray_ingress_replicas} ingress replicas; models: {names})\n"
        )
        sys.stderr.flush()
        _wait_for_signal()
        sys.stderr.write("openmaas: deleting the Serve application\n")
        serve.delete(APP_NAME)
        if is_local:
            serve.shutdown()  # type: ignore[no-untyped-call]
    finally:
        ray.shutdown()
    return 0


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _sig, _frame: stop.set())
    while not stop.wait(1.0):
        pass
