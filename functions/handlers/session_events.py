"""Lambda: POST /sessions/{id}/events and POST /sessions/{id}/claim (signature checked before routing)."""

from functions.api import build_resolver, make_handler
from functions.routes import session_events
from functions.signed_routes import verify_signature

handler = make_handler(build_resolver([session_events.router]), pre_checks=[verify_signature])
