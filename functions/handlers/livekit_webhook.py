"""Lambda: POST /livekit/webhook."""

from functions.api import build_resolver, make_handler
from functions.routes import livekit_webhook

handler = make_handler(build_resolver([livekit_webhook.router]))
