"""Secrets resolved at run time: from SSM Parameter Store (Powertools parameters, cached) when
``SECRETS_SSM_PREFIX`` is set, otherwise from the environment (local stack, tests).

Nothing secret is resolved at package time (no ``${ssm:}`` in serverless.yml), so packaging works offline.

Fail closed (functions/models/secret_policy.py): every secret is checked where it is resolved, per
request. An empty one is never used; outside loopback (real AWS or a reachable LiveKit) neither is a
development default nor one shorter than 32 bytes — whether it came from the environment or from SSM, so
an empty SSM prefix in a deployed stage cannot turn into "accept an empty key". The request then fails
with a 500 naming the setting (functions/api.py), and nothing is signed or accepted with it.
"""

from __future__ import annotations

import time

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from functions.errors import Misconfigured
from functions.models.secret_policy import api_key_problem, problem_code, secret_problem
from functions.observability import logger
from functions.settings import get_settings

_CACHE_S = 300
# Optional parameters that do not exist (no rotation under way): remembered, not asked for every request.
_absent: dict[str, float] = {}


def _ssm_name(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}"


def _secret(ssm_name: str, env_value: str, optional: bool = False) -> str:
    prefix = get_settings().secrets_ssm_prefix
    if not prefix:
        return env_value
    name = _ssm_name(prefix, ssm_name)
    if optional and _absent.get(name, 0.0) > time.monotonic():
        return ""
    try:
        value = parameters.get_parameter(name, decrypt=True, max_age=_CACHE_S)
    except GetParameterError:
        if not optional:
            raise
        _absent[name] = time.monotonic() + _CACHE_S
        return ""
    return str(value)


def _checked(setting: str, value: str, *, key: bool = False) -> str:
    local = get_settings().all_endpoints_local
    problem = api_key_problem(value, local=local) if key else secret_problem(value, local=local)
    if problem is not None:
        # One line naming the setting (never the value); the request gets the same as a 500.
        logger.error("configuration error", extra={"setting": setting, "problem": problem})
        raise Misconfigured(setting, problem, problem_code(problem))
    return value


def livekit_api_key() -> str:
    return _checked("LIVEKIT_API_KEY", get_settings().livekit_api_key, key=True)


def livekit_api_secret() -> str:
    return _checked("LIVEKIT_API_SECRET", _secret("livekit-api-secret", get_settings().livekit_api_secret))


def session_log_secrets() -> list[str]:
    """The current secret and, during a rotation, the previous one (both checked)."""
    settings = get_settings()
    current = _checked("SESSION_LOG_SECRET", _secret("session-log-secret", settings.session_log_secret))
    previous = _secret("session-log-secret-previous", settings.session_log_secret_previous, optional=True)
    if not previous:
        return [current]
    return [current, _checked("SESSION_LOG_SECRET_PREVIOUS", previous)]


def session_log_secret() -> str:
    return session_log_secrets()[0]


def preview_tts_api_key() -> str:
    return _checked(
        "PREVIEW_TTS_API_KEY", _secret("preview-tts-api-key", get_settings().preview_tts_api_key), key=True
    )


def access_code() -> str:
    """Empty means /token is open (a public demo): a choice, not a secret gone missing."""
    return _secret("access-code", get_settings().access_code)
