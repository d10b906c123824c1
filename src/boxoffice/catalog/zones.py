"""A venue's time zone: an IANA name (``Asia/Seoul``) the zone database knows.

Times stay UTC on the wire and in storage; the zone says how a page shows them."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

DEFAULT_TIME_ZONE = "Asia/Seoul"
MAX_TIME_ZONE_LENGTH = 64  # concerts.time_zone
# As the zone database spells its names: no path tricks, no spaces, nothing to trim.
_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")
# Files the zone directory holds that are not zone names.
_NOT_ZONES = frozenset({"localtime", "posixrules"})


@lru_cache(maxsize=256)
def is_time_zone(name: str) -> bool:
    if len(name) > MAX_TIME_ZONE_LENGTH or name in _NOT_ZONES or not _NAME.fullmatch(name):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def known_time_zone(name: str) -> str:
    if not is_time_zone(name):
        raise ValueError(f"{name[:80]!r} is not an IANA time zone like Asia/Seoul or Europe/Paris")
    return name


TimeZoneName = Annotated[str, AfterValidator(known_time_zone)]
