"""Lambda: the operators' /assistants routes and the editor's POST /voice-preview, and the worker's
signed GET /agent/assistants/{id}/versions/{version} (signature checked before routing)."""

from functions.api import build_resolver, make_handler
from functions.routes import assistants, voice_preview
from functions.signed_routes import verify_signature

handler = make_handler(
    build_resolver([assistants.router, voice_preview.router]), pre_checks=[verify_signature]
)
