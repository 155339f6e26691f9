"""The dashboard's route class: errors become pages (not problem+json), an expired session
becomes a redirect to the sign-in form, every response gets the browser security headers,
and a renewed session cookie is set on the way out.

The API's app-wide handlers answer problem+json, right for API clients; a person following a
link needs a page. Wrapping the route handler keeps that choice to the /ui routes only.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute

from api.problems import ProblemError
from api.web import session as sessions
from api.web.guard import RENEWAL_STATE, CsrfRejected, NotSignedIn, Renewal
from api.web.settings import web_settings
from api.web.templating import render

# No inline script or style anywhere (htmx's indicator styles are switched off in base.html),
# so the policy can forbid both: injected markup cannot run.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

TITLES = {400: "Bad request", 401: "Please sign in", 403: "Not allowed", 404: "Not found",
          409: "Could not be done", 422: "Something in the request was not valid",
          429: "Too many attempts", 500: "Something went wrong", 503: "Unavailable"}


def cookie_secure(request: Request) -> bool:
    configured = web_settings().cookie_secure
    return request.url.scheme == "https" if configured is None else configured


def set_session_cookie(response: Response, request: Request, renewal: Renewal) -> None:
    response.set_cookie(sessions.COOKIE, renewal.value, max_age=renewal.max_age, path="/ui",
                        httponly=True, samesite="strict", secure=cookie_secure(request))


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(sessions.COOKIE, path="/ui", httponly=True, samesite="strict")


def error_page(request: Request, status: int, detail: str | None) -> Response:
    if request.headers.get("hx-request"):
        # A fragment request: a short message the page shows in its notice area.
        return render(request, "_notice.html", {"kind": "error", "message": detail or
                                                TITLES.get(status, "Error")}, status=status)
    return render(request, "error.html", {"status": status, "title": TITLES.get(status, "Error"),
                                          "detail": detail, "user": None}, status=status)


def _not_signed_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = "/ui/login" if request.method != "GET" else f"/ui/login?next={quote(target)}"
    response: Response
    if request.url.path == "/ui/stream":
        response = PlainTextResponse("not signed in", status_code=401)
    elif request.headers.get("hx-request"):
        response = PlainTextResponse("not signed in", status_code=401,
                                     headers={"HX-Redirect": login})
    else:
        response = RedirectResponse(login, status_code=303)
    clear_session_cookie(response)
    return response


class HtmlRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except NotSignedIn:
                response = _not_signed_in(request)
            except CsrfRejected as exc:
                response = error_page(request, 403, f"The request was refused ({exc}). "
                                      "Reload the page and try again.")
            except ProblemError as exc:
                response = error_page(request, exc.status, exc.detail)
                for key, value in exc.headers.items():
                    if key.lower() != "www-authenticate":
                        response.headers[key] = value
            except RequestValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:])
                                   for e in exc.errors()[:5])
                response = error_page(request, 422, f"Invalid value: {fields or 'request'}")
            renewal = getattr(request.state, RENEWAL_STATE, None)
            if isinstance(renewal, Renewal):
                set_session_cookie(response, request, renewal)
            for key, value in SECURITY_HEADERS.items():
                response.headers.setdefault(key, value)
            # Patient data must not linger in shared caches or the back/forward cache.
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return run
