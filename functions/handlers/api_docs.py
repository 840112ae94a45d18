"""Lambda: GET /openapi.json and the catch-all route (unknown paths/methods get a JSON 404)."""

from functions.api import make_handler
from functions.app import PRE_CHECKS, build_app

handler = make_handler(build_app(), pre_checks=PRE_CHECKS)
