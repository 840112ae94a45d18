"""Lambda: GET /sessions, GET /sessions/{id} and GET /export/sessions (operators), GET
/calls/{id}/transcript (the caller)."""

from functions.api import build_resolver, make_handler
from functions.routes import calls, export, sessions

handler = make_handler(build_resolver([sessions.router, export.router, calls.router]))
