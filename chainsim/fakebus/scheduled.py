"""Scheduled triggers on the fake: the SDK's models and the schedule's documented ranges.

Wire JSON as the SDK's `CreateScheduledTriggerRequest` / `UpdateScheduledTriggerRequest`
(`name`, `target`, `enabled`, `schedule`, `description`; update adds `version`) and
`ScheduledTrigger` (plus `id`, `version`, `selfUri`). `TriggerSchedule` fields as the
SDK documents them (`models/trigger_schedule.py`):

- `minutes`: "Coma separated list of up to 2 values 0-59";
- `hours`: "0-23 or '*' for every hour";
- `daysOfMonth`: "1-31 or '*' for every or '?' for any";
- `months`: "1-12 or '*' for every";
- `daysOfWeek`: "1-7 or '*' for every or '?' for any";
- `timezone`: "Timezone for the trigger schedule" (an IANA name; the fake checks it
  with `zoneinfo`).

The SDK does not say which schedule fields are required nor whether `hours` etc. take
comma lists; the fake requires all six and accepts comma lists of in-range values
(no source: our choice, stated here). `name` 1..256 and `description` <= 512 as for
triggers (assumed the same; no separate source).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from chainsim.fakebus.errors import Violation, bad_request
from chainsim.fakebus.triggers import LaxInt, TriggerTarget, validated_body


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class TriggerSchedule(_Wire):
    """`TriggerSchedule` as sent (each field checked by `check_schedule`)."""

    minutes: StrictStr
    hours: StrictStr
    days_of_month: StrictStr = Field(alias="daysOfMonth")
    months: StrictStr
    days_of_week: StrictStr = Field(alias="daysOfWeek")
    timezone: StrictStr


class ScheduledTriggerBody(_Wire):
    """The fields the create and update requests share, as validated."""

    name: StrictStr = Field(min_length=1, max_length=256)
    target: TriggerTarget
    enabled: StrictBool
    schedule: TriggerSchedule
    description: StrictStr | None = Field(None, max_length=512)
    version: LaxInt | None = None


# field -> (low, high, wildcards allowed, most values)
_RANGES: dict[str, tuple[int, int, tuple[str, ...], int | None]] = {
    "minutes": (0, 59, (), 2),
    "hours": (0, 23, ("*",), None),
    "daysOfMonth": (1, 31, ("*", "?"), None),
    "months": (1, 12, ("*",), None),
    "daysOfWeek": (1, 7, ("*", "?"), None),
}


def _field_problem(field: str, raw: str) -> str | None:
    low, high, wild, most = _RANGES[field]
    text = raw.strip()
    if text in wild:
        return None
    parts = text.split(",")
    if most is not None and len(parts) > most:
        return f"at most {most} values"
    for part in parts:
        part = part.strip()
        if not part.isdigit() or not low <= int(part) <= high:
            allowed = f"{low}-{high}" + "".join(f" or '{w}'" for w in wild)
            return f"{raw!r} is not {allowed}"
    return None


def check_schedule(schedule: dict[str, Any]) -> None:
    """400 naming the first malformed schedule field."""
    for field in _RANGES:
        problem = _field_problem(field, schedule[field])
        if problem is not None:
            _refuse(f"schedule.{field}", problem)
    try:
        ZoneInfo(schedule["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        _refuse("schedule.timezone", f"unknown timezone {schedule['timezone']!r}")


def _refuse(place: str, problem: str) -> None:
    raise bad_request(f"{place}: {problem}", [Violation("invalid.value", problem, place)])


def parse_scheduled(body: Any, *, require_version: bool) -> dict[str, Any]:
    """Validate a create/update body and return the stored wire fields (no id)."""
    parsed = validated_body(ScheduledTriggerBody, body, require_version=require_version)
    schedule = parsed.schedule.model_dump(by_alias=True)
    check_schedule(schedule)
    out: dict[str, Any] = {
        "name": parsed.name,
        "target": parsed.target.model_dump(by_alias=True, exclude_none=True),
        "enabled": parsed.enabled,
        "schedule": schedule,
    }
    if parsed.description is not None:
        out["description"] = parsed.description
    if parsed.version is not None:
        out["version"] = parsed.version
    return out
