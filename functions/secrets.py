"""Secrets resolved at run time: from SSM Parameter Store (Powertools parameters, cached) when
``SECRETS_SSM_PREFIX`` is set, otherwise from the environment (local stack, tests).

Nothing secret is resolved at package time (no ``${ssm:}`` in serverless.yml), so packaging works offline.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from functions.settings import get_settings

_CACHE_S = 300


def _secret(ssm_name: str, env_value: str) -> str:
    prefix = get_settings().secrets_ssm_prefix
    if not prefix:
        return env_value
    value = parameters.get_parameter(f"{prefix.rstrip('/')}/{ssm_name}", decrypt=True, max_age=_CACHE_S)
    return str(value)


def livekit_api_secret() -> str:
    return _secret("livekit-api-secret", get_settings().livekit_api_secret)


def session_log_secret() -> str:
    return _secret("session-log-secret", get_settings().session_log_secret)


def access_code() -> str:
    return _secret("access-code", get_settings().access_code)
