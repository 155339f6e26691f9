"""Static files (CSS, the dashboard script, vendored htmx) from a fixed list, cached for a
year: their URLs carry a content fingerprint (templating.static_url)."""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, Response

from api.web.templating import static_files

router = APIRouter()

TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".txt": "text/plain; charset=utf-8", ".svg": "image/svg+xml"}


@router.get("/static/{name:path}")
async def static_file(name: str) -> Response:
    path = static_files().get(name)
    if path is None:
        return PlainTextResponse("not found", status_code=404)
    media = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
    return FileResponse(path, media_type=media, headers={
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff"})
