"""The API docs page (Swagger UI), served from files installed with the `fastapi-offline`
package: the machine may be offline, so nothing is loaded from a CDN."""

from __future__ import annotations

from importlib import resources


def mount(app) -> None:
    from fastapi.openapi.docs import get_swagger_ui_html
    from starlette.staticfiles import StaticFiles

    static = resources.files("fastapi_offline") / "static"
    app.mount("/docs/static", StaticFiles(directory=str(static)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="faceledger API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon.png",
        )
