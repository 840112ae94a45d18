"""Identifiers with the prefixes LiveKit SDKs parse (the Rust SDK checks PA_/TR_)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def room_sid() -> str:
    return new_id("RM_")


def participant_sid() -> str:
    return new_id("PA_")


def track_sid() -> str:
    return new_id("TR_")


def worker_id() -> str:
    return new_id("AW_")


def job_id() -> str:
    return new_id("AJ_")


def dispatch_id() -> str:
    return new_id("AD_")


def event_id() -> str:
    return new_id("EV_")
