"""Lambda: the operators' /assistants routes and the worker's signed GET
/agent/assistants/{id}/versions/{version} (signature checked before routing)."""

from functions.api import build_resolver, make_handler
from functions.routes import assistants
from functions.signed_routes import verify_signature

handler = make_handler(build_resolver([assistants.router]), pre_checks=[verify_signature])
