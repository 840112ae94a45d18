"""GET /calls/{id}/transcript: a caller reads back their own call's transcript with its call key.

The call key (returned once by the call's first POST /token) is the only credential this route takes, in
the ``X-Call-Key`` header (never the URL, which ends up in logs). It opens that one call's transcript and
nothing else: no other call, no latency or errors, no operator route (docs/security.md).
"""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header

from functions.errors import ApiError, error_responses
from functions.models.api import CALL_KEY_PATTERN, CallTranscript
from functions.observability import logger, metrics
from functions.routes.query_params import SessionIdPath
from functions.routes.sessions import read_transcript, summary_fields
from functions.routes.token import owns_call
from functions.store.sessions import get_session

router = Router()


@router.get(
    "/calls/<session_id>/transcript",
    summary="Your own call's transcript, with the call key its first token returned",
    responses=error_responses(401, 403, 422),
)
def caller_transcript(
    session_id: SessionIdPath,
    x_call_key: Annotated[
        str | None,
        Header(
            alias="x-call-key",
            max_length=128,
            description="The call key POST /token returned for this call.",
        ),
    ] = None,
) -> CallTranscript:
    if not x_call_key:
        raise ApiError(401, "call_key_required", "send the call's key in the X-Call-Key header")
    session = get_session(session_id)
    if (
        not re.fullmatch(CALL_KEY_PATTERN, x_call_key)
        or not owns_call(session, x_call_key)
        or session is None
    ):
        metrics.add_metric(name="CallKeyRejected", unit="Count", value=1)
        logger.warning("caller transcript refused", extra={"session_id": session_id})
        # The same answer whether the call exists or not.
        raise ApiError(403, "call_key_invalid", "this call key does not open this call")
    summary = summary_fields(session)
    transcript = read_transcript(session_id)
    logger.info("caller transcript", extra={"session_id": session_id, "lines": len(transcript)})
    return CallTranscript(
        session_id=session_id,
        status=summary["status"],
        ended_at=summary["ended_at"],
        end_reason=summary["end_reason"],
        transcript=transcript,
    )
