"""The interactive API docs of the hub and the agent, served from local files.

FastAPI's own docs page loads Swagger UI from a CDN; a store network may have no internet,
and HQ wants nothing of its API shown to someone not signed in. So both apps turn FastAPI's
docs off and call ``serve_docs``: Swagger UI's files come from the ``swagger-ui-py`` package,
and ``guard`` (a FastAPI dependency) decides who may read the schema and the page.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles


def _package_dir(name: str) -> Path:
    """Where an installed package lives, without importing it: ``import swagger_ui`` loads
    jinja2, PyYAML and its framework probes (~80 ms of every agent and hub start, measured),
    and only its static files are wanted here."""
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {name!r} is not installed", name=name)
    return Path(next(iter(spec.submodule_search_locations)))


SWAGGER_FILES = _package_dir("swagger_ui") / "static"
DOCS_ASSETS = "/docs-assets"


def serve_docs(
    app: FastAPI,
    schema_guard: Callable[..., Any] | None = None,
    page_guard: Callable[..., Any] | None = None,
) -> None:
    """``/openapi.json`` behind ``schema_guard`` and ``/docs`` behind ``page_guard``, when
    given (a page guard can send a browser to sign in instead of answering 401)."""
    dependencies = [Depends(schema_guard)] if schema_guard is not None else []
    page_dependencies = [Depends(page_guard)] if page_guard is not None else []
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_FILES), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False, dependencies=dependencies)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=page_dependencies)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )
