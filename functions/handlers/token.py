"""Lambda: POST /token."""

from functions.api import build_resolver, make_handler
from functions.routes import token

handler = make_handler(build_resolver([token.router]), pre_checks=[token.limit_token_requests])
