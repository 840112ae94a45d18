"""Lambda: GET /analytics."""

from functions.api import build_resolver, make_handler
from functions.routes import analytics

handler = make_handler(build_resolver([analytics.router]))
