"""The clinician web dashboard, served by the API app under /ui: server-rendered pages
(Jinja2), htmx for partial updates, the API's SSE stream for live alerts, charts as
server-side SVG. No front-end build step.

`router` is the one thing the app factory includes. The pages are left out of the OpenAPI
document: they are for people, not API clients.
"""

from fastapi import APIRouter

from api.web import assets, login, patients, queue, rules, stream

router = APIRouter(prefix="/ui", include_in_schema=False)
for _module in (assets, login, stream, queue, patients, rules):
    router.include_router(_module.router)

__all__ = ["router"]
