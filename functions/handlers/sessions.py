"""Lambda: GET /sessions and GET /sessions/{id}."""

from functions.api import build_resolver, make_handler
from functions.routes import sessions

handler = make_handler(build_resolver([sessions.router]))
