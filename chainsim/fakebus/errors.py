"""Domain errors of the fake bus: each carries its HTTP status and Genesys error code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Violation:
    """One broken constraint: a Genesys-style error code, a message and where."""

    code: str
    message: str
    field_name: str | None = None
    entity_id: str | None = None

    def detail(self) -> dict[str, Any]:
        """The SDK's `Detail` shape."""
        out: dict[str, Any] = {"errorCode": self.code}
        if self.field_name is not None:
            out["fieldName"] = self.field_name
        if self.entity_id is not None:
            out["entityId"] = self.entity_id
        return out


@dataclass(eq=False)
class FakeError(Exception):
    """An answer that is not a success, raised by the state and turned into HTTP once."""

    status: int
    code: str
    message: str
    violations: list[Violation] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self, context_id: str) -> dict[str, Any]:
        """The Genesys error body (`message`, `code`, `status`, `contextId`, ...)."""
        return {
            "message": self.message,
            "code": self.code,
            "status": self.status,
            "contextId": context_id,
            "details": [v.detail() for v in self.violations],
            "errors": [
                {"message": v.message, "code": v.code, "status": self.status}
                for v in self.violations
            ],
        }


def bad_request(message: str, violations: list[Violation] | None = None) -> FakeError:
    """400 `bad.request`."""
    return FakeError(400, "bad.request", message, violations or [])


def not_found(message: str) -> FakeError:
    """404 `not.found`."""
    return FakeError(404, "not.found", message)


def conflict(message: str) -> FakeError:
    """409 `conflict`."""
    return FakeError(409, "conflict", message)


def unprocessable(message: str, violations: list[Violation]) -> FakeError:
    """422 `unprocessable.entity`, one violation per broken chain constraint."""
    return FakeError(422, "unprocessable.entity", message, violations)


def forbidden(missing: tuple[str, ...]) -> FakeError:
    """403 naming the missing permission(s) as Genesys words it.

    One required permission: `missing.permissions`; several of which any one will do
    (the SDK docs' "Requires ANY permissions"): `missing.any.permissions`. Codes and
    messages as Genesys sends them, collected in gildas/go-gcloudcx `errors.go`
    (`MissingPermissionsError`, `MissingAnyPermissionsError`).
    """
    listed = "[" + ", ".join(missing) + "]"
    if len(missing) == 1:
        return FakeError(
            403,
            "missing.permissions",
            "Unable to perform the requested action."
            f" You are missing the following permission(s): {listed}",
        )
    return FakeError(
        403,
        "missing.any.permissions",
        "Unable to perform the requested action."
        f" You must have at least one of the following permissions assigned: {listed}",
    )
