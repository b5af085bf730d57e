"""The web UI at /ui: static HTML, CSS and small JavaScript modules shipped in the package (no
build step, nothing from a CDN), talking to the REST API with a session token."""

from __future__ import annotations

from importlib import resources

# Only this service's own files and the pictures the page makes itself (blob: URLs).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def mount(app) -> None:
    from starlette.responses import FileResponse, RedirectResponse
    from starlette.staticfiles import StaticFiles

    static = resources.files(__package__) / "static"

    class UiFiles(StaticFiles):
        async def get_response(self, path, scope):
            response = await super().get_response(path, scope)
            response.headers.update(SECURITY_HEADERS)
            return response

    app.mount("/ui/static", UiFiles(directory=str(static)), name="ui-static")

    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    async def ui_page():
        return FileResponse(str(static / "index.html"), media_type="text/html", headers=SECURITY_HEADERS)

    @app.get("/", include_in_schema=False)
    async def to_ui():  # a person who opens the service's address finds the UI (POST / is Rekognition's)
        return RedirectResponse("/ui/")
