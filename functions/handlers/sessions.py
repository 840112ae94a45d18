"""Lambda: GET /sessions and GET /sessions/{id} (operators), GET /calls/{id}/transcript (the caller)."""

from functions.api import build_resolver, make_handler
from functions.routes import calls, sessions

handler = make_handler(build_resolver([sessions.router, calls.router]))
