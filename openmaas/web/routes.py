"""The console's pages (/, /models/{id}, /playground, /keys, /usage) and its static files.

Pages are server-rendered shells: the layout, the labelled controls and what the
server knows without a key (its base URL, the model id in the path). Everything
a key may or may not see is fetched by the page's module from /api/console/* and
/api/admin/* with the key the browser holds, so the pages themselves need no
session cookie (and so no CSRF defence) and never carry secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from openmaas import __version__

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

# Only this server: no CDN, no inline script, no framing (users run this on closed networks).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["version"] = __version__


def _page(request: Request, template: str, page: str, title: str, **context: Any) -> Response:
    response = templates.TemplateResponse(request, template, {"page": page, "title": title, **context})
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/", response_class=HTMLResponse)
async def catalog_page(request: Request) -> Response:
    return _page(request, "catalog.html", "catalog", "Models")


@router.get("/models/{model_id:path}", response_class=HTMLResponse)
async def model_page(request: Request, model_id: str) -> Response:
    return _page(request, "model.html", "catalog", model_id, model_id=model_id)


@router.get("/playground", response_class=HTMLResponse)
async def playground_page(request: Request) -> Response:
    return _page(request, "playground.html", "playground", "Playground")


@router.get("/keys", response_class=HTMLResponse)
async def keys_page(request: Request) -> Response:
    return _page(request, "keys.html", "keys", "API keys")


@router.get("/usage", response_class=HTMLResponse)
async def usage_page(request: Request) -> Response:
    return _page(request, "usage.html", "usage", "Usage")


# The pages' paths (beside /static): what is not an API route.
_PAGE_PATHS = frozenset({"/", "/playground", "/keys", "/usage"})


def is_console_page(path: str) -> bool:
    """Whether path is one of the console's pages or static files rather than an API route."""
    return path in _PAGE_PATHS or path.startswith(("/models/", "/static/"))


def mount_console(app: FastAPI) -> None:
    """The pages and /static; included after every API route so none is shadowed."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
