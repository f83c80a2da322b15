"""The ASGI application: Week, Plan, Notes and Health pages, ``/metrics`` and ``/healthz``.

Server-rendered (Jinja2 templates with autoescaping, SVG drawn in
:mod:`calsync.web.svg`), no script at all, the stylesheet served from the
package: the page works offline and asks no third party for anything.
Handlers are plain functions: Starlette runs them in its thread pool, where
the store's blocking calls belong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from calsync.approval import approve, decline, is_manual, proposals
from calsync.config import Config
from calsync.errors import CalsyncError, InputError
from calsync.reconcile import Action, Create, Update
from calsync.service import Calsync
from calsync.targets.base import Target
from calsync.text import FOREIGN_LIMIT, quote
from calsync.web import views
from calsync.web.metrics import CONTENT_TYPE, exposition, registry_for
from calsync.web.notes import close_memory
from calsync.web.security import (
    CSRF_FIELD,
    SECURITY_HEADERS,
    TOKEN_COOKIE,
    Csrf,
    access_token,
    is_loopback,
    same,
)
from calsync.web.svg import KIND_COLOURS, acceptance_svg, shown, week_svg, why_link

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
#: Longest note the Notes page accepts.
NOTE_LIMIT = 2_000
#: Largest form body accepted (bytes).
FORM_LIMIT = 64 * 1024


class WebState:
    """What every request shares: the configuration, the API, targets and secrets.

    Args:
        cs: The learning API (its store is used from the request threads).
        host: The address the server binds (decides whether a token is needed).
        port: Its port (for the ``Host`` check).
        targets: The write-back targets (default: built from the configuration).

    """

    def __init__(
        self,
        cs: Calsync,
        host: str = "127.0.0.1",
        port: int = 8765,
        targets: list[Target] | None = None,
    ):
        from calsync.targets.factory import build_targets

        self.cs = cs
        self.config: Config = cs.config
        self.host, self.port = host, port
        self.zone = ZoneInfo(cs.config.user.timezone)
        self.loopback = is_loopback(host)
        self.token = None if self.loopback else access_token(cs.config.resolved_state_dir())
        self.csrf = Csrf()
        self.targets = targets if targets is not None else build_targets(cs.config, cs.clock)
        self.registry = registry_for(lambda: self.cs)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["shown"] = shown
        self.env.filters["when"] = self.when
        self.env.globals.update(csrf_field=CSRF_FIELD, colours=KIND_COLOURS)

    def when(self, value: datetime | str | None) -> str:
        """An instant (or its ISO text) on the user's clock, for people; ``—`` for none."""
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            try:
                instant = datetime.fromisoformat(value)
            except ValueError:
                return shown(value, 40)
        else:
            instant = value
        if instant.tzinfo is None:
            return instant.isoformat(timespec="minutes")
        return instant.astimezone(self.zone).strftime("%a %d %b %Y %H:%M")

    def target(self, name: str) -> Target:
        """A configured target by name."""
        for target in self.targets:
            if target.name == name:
                return target
        raise InputError("no such target")

    def page(self, request: Request, name: str, **context: Any) -> HTMLResponse:
        """Render a template with what every page needs."""
        started = time.perf_counter()
        template = self.env.get_template(f"{name}.html")
        html = template.render(
            page=name,
            csrf=self.csrf.token,
            user=self.config.user.id,
            zone=self.config.user.timezone,
            manual=is_manual(self.cs),
            message=request.query_params.get("msg"),
            **context,
        )
        response = HTMLResponse(html)
        response.headers["Server-Timing"] = (
            f"render;dur={(time.perf_counter() - started) * 1000:.1f}"
        )
        return response


# ---------------------------------------------------------------------- security


class Guard(BaseHTTPMiddleware):
    """Host check, access token, CSRF on POST and the security headers (see security)."""

    def __init__(self, app: Any, state: WebState):
        super().__init__(app)
        self.state = state

    def _host_ok(self, request: Request) -> bool:
        """On loopback, the Host header must name loopback (no DNS rebinding)."""
        if not self.state.loopback:
            return True
        name = urlsplit("//" + (request.headers.get("host") or "")).hostname
        return name is not None and is_loopback(name)

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Refuse what is not allowed; add the headers to everything."""
        response = await self._checked(request, call_next)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    async def _checked(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not self._host_ok(request):
            return PlainTextResponse("wrong Host header\n", status_code=421)
        token = self.state.token
        if token is not None and request.url.path != "/healthz":
            bearer = request.headers.get("authorization", "")
            presented = bearer[7:] if bearer.lower().startswith("bearer ") else None
            if same(presented, token) or same(request.cookies.get(TOKEN_COOKIE), token):
                pass
            elif request.method == "GET" and same(request.query_params.get("token"), token):
                rest = {k: v for k, v in request.query_params.items() if k != "token"}
                target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
                response: Response = RedirectResponse(target, status_code=303)
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
                return response
            else:
                return PlainTextResponse(
                    "calsync: this view needs its access token (web-token in the state "
                    "directory): open it once with ?token=TOKEN\n",
                    status_code=401,
                )
        if request.method == "POST":
            origin = request.headers.get("origin")
            host = request.headers.get("host")
            if origin is not None and host is not None and origin.split("://", 1)[-1] != host:
                return PlainTextResponse("cross-origin request refused\n", status_code=403)
            try:
                form = await form_of(request)
            except InputError:
                return PlainTextResponse("form too large\n", status_code=413)
            if not self.state.csrf.valid(form.get(CSRF_FIELD)):
                return PlainTextResponse("missing or wrong CSRF token\n", status_code=403)
        return await call_next(request)


async def form_of(request: Request) -> dict[str, str]:
    """A POST's URL-encoded form (first value of each field; at most :data:`FORM_LIMIT` bytes).

    Raises:
        InputError: the body is larger than the limit.

    """
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > FORM_LIMIT:
        raise InputError("form too large")
    body = await request.body()
    if len(body) > FORM_LIMIT:
        raise InputError("form too large")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


# ---------------------------------------------------------------------- pages


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def _monday(text: str | None) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError as err:
        raise InputError("week must be a date, YYYY-MM-DD") from err
    return day.fromordinal(day.toordinal() - day.weekday())


def week_page(request: Request) -> Response:
    """The learned week of a task type (or energy) with the week's blocks; a block's why."""
    state = _state(request)
    q = request.query_params
    data = views.week(state.cs, q.get("task"), _monday(q.get("week")))
    monday = data.monday.isoformat()
    links = {b.key: why_link("/week", data.selected, monday, b.key) for b in data.blocks}
    chosen = next((b for b in data.blocks if b.key == q.get("why")), None)
    explained = views.why(state.cs, chosen) if chosen is not None else None
    prev_week = date.fromordinal(data.monday.toordinal() - 7).isoformat()
    next_week = date.fromordinal(data.monday.toordinal() + 7).isoformat()
    return state.page(
        request,
        "week",
        week=data,
        svg=week_svg(data, links, q.get("why"), state.cs.clock.now()),
        links=links,
        why=explained,
        prev_week=prev_week,
        next_week=next_week,
        kinds=views.KINDS,
    )


def plan_page(request: Request) -> Response:
    """The upcoming plan per target, open proposals and the task types short of their target."""
    from calsync.writeback import run_cycle

    state = _state(request)
    reports = [run_cycle(state.cs, target, dry_run=True) for target in state.targets]
    open_rows = proposals(state.cs)
    # The planner's own reasons (the words `calsync plan` prints), per target and week;
    # all but the weeks whose whole target is met (the page's "every task type reaches
    # its target"), so a week with no share of its target left is shown, with why.
    short = [
        (report.target, s)
        for report in reports
        for s in report.shortfalls
        if not (s.reason == "target_reached" and s.counted >= s.weekly)
    ]
    return state.page(
        request,
        "plan",
        reports=reports,
        proposals=open_rows,
        shortfalls=short,
        tz=ZoneInfo(state.config.user.timezone),
        describe=_describe,
    )


def _describe(action: Action, tz: ZoneInfo) -> str:
    """One planned write, for people (the block's title is calsync's own)."""
    if isinstance(action, Create | Update):
        start = action.content.start.astimezone(tz)
        where = "create {} at" if isinstance(action, Create) else "move {} to"
        return f"{where.format(action.content.summary)} {start:%a %d %b %H:%M}"
    return f"remove block {action.suggestion_id} ({action.reason})"


def _back(path: str, message: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'msg': message})}", status_code=303)


async def plan_decide(request: Request) -> Response:
    """Approve or decline one proposal (``id``) or all (``all``) of a target."""
    form = await form_of(request)
    state = _state(request)
    action = request.path_params["action"]
    if action not in ("approve", "decline"):
        return PlainTextResponse("not found\n", status_code=404)
    target_name = form.get("target", "")
    ids = None if form.get("all") else [form.get("id", "")]
    from starlette.concurrency import run_in_threadpool

    try:
        if action == "approve":
            count = await run_in_threadpool(approve, state.cs, state.target(target_name), ids)
            return _back("/plan", f"approved and wrote {count} block(s)")
        count = await run_in_threadpool(decline, state.cs, target_name, ids)
        return _back("/plan", f"declined {count} proposal(s): learned like deleted blocks")
    except CalsyncError as err:
        logger.warning("plan %s failed: %s", action, err)
        return _back("/plan", f"{action} failed: {quote(err, FOREIGN_LIMIT)}")


def notes_page(request: Request) -> Response:
    """The insights: the user's notes, feedback and what calsync found in behaviour."""
    state = _state(request)
    with state.cs.store.read() as tx:
        insights = tx.insights(state.config.user.id)
    return state.page(request, "notes", insights=list(reversed(insights)), limit=NOTE_LIMIT)


async def note_add(request: Request) -> Response:
    """Store a note in the user's own words."""
    from starlette.concurrency import run_in_threadpool

    from calsync.insights.sync import InsightService

    form = await form_of(request)
    text = form.get("text", "")[:NOTE_LIMIT]
    state = _state(request)

    def add() -> bool:
        service = InsightService.from_config(state.cs)
        try:
            return service.add_note(text)
        finally:
            close_memory(service.memory)

    try:
        added = await run_in_threadpool(add)
    except CalsyncError as err:
        return _back("/notes", f"not added: {quote(err)}")
    return _back("/notes", "noted" if added else "already noted")


async def note_delete(request: Request) -> Response:
    """Delete one insight (and its copy in the memory store)."""
    from starlette.concurrency import run_in_threadpool

    from calsync.web.notes import delete_insight

    state = _state(request)
    try:
        insight_id = int(request.path_params["insight_id"])
    except ValueError:
        return _back("/notes", "no such note")
    deleted = await run_in_threadpool(delete_insight, state.cs, insight_id)
    return _back("/notes", "deleted" if deleted else "no such note")


def health_page(request: Request) -> Response:
    """Sources, targets, the last cycles, the interpreter's use and learning progress."""
    state = _state(request)
    data = views.health(state.cs)
    return state.page(request, "health", health=data, chart=acceptance_svg(data.acceptance))


def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format."""
    return Response(exposition(_state(request).registry), media_type=CONTENT_TYPE)


def healthz(request: Request) -> Response:
    """Liveness: the process answers and the database can be read."""
    state = _state(request)
    try:
        with state.cs.store.read() as tx:
            tx.users()
    except CalsyncError:
        return PlainTextResponse("database unavailable\n", status_code=503)
    return PlainTextResponse("ok\n")


def index(request: Request) -> Response:
    """The week is the start page."""
    return RedirectResponse("/week", status_code=307)


def _errors(app: Starlette) -> None:
    async def bad_input(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"{quote(exc)}\n", status_code=400)

    app.add_exception_handler(InputError, bad_input)


def create_app(state: WebState) -> Starlette:
    """The ASGI application over one :class:`WebState`."""
    routes = [
        Route("/", index),
        Route("/week", week_page),
        Route("/plan", plan_page),
        Route("/plan/{action:str}", plan_decide, methods=["POST"]),
        Route("/notes", notes_page),
        Route("/notes", note_add, methods=["POST"]),
        Route("/notes/{insight_id:str}/delete", note_delete, methods=["POST"]),
        Route("/health", health_page),
        Route("/metrics", metrics_endpoint),
        Route("/healthz", healthz),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, state=state)])
    app.state.web = state
    _errors(app)
    return app
