"""Date-range query parameters shared by GET /sessions and GET /analytics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from functions.errors import ApiError
from functions.settings import get_settings

DEFAULT_RANGE_DAYS = 7
# Far from date.min/max so that day arithmetic never overflows.
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


def resolve_range(from_day: date | None, to_day: date | None) -> tuple[date, date]:
    for given in (from_day, to_day):
        if given is not None and not EARLIEST <= given <= LATEST:
            raise ApiError(400, "bad_range", f"days must be between {EARLIEST} and {LATEST}")
    today = datetime.now(UTC).date()
    end = to_day or today
    start = from_day or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start > end:
        raise ApiError(400, "bad_range", "'from' must not be after 'to'")
    limit = get_settings().max_range_days
    if (end - start).days + 1 > limit:
        raise ApiError(400, "bad_range", f"at most {limit} days per request")
    return start, end
