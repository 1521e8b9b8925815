"""The fake org's workflows: the targets triggers start (issue 11 item 5, DESIGN §5).

With a registry (`fake serve --workflows FILE`: a list of `{id, name, published}`,
`published` defaulting to true) the registry is the org's whole set of workflows: a
trigger created or updated to target another id is refused (400), and the trigger
test's `targetValidation` fails for an unknown or unpublished workflow. Without one
the registry is open: every workflow a trigger targets exists and is published.

`GET /api/v2/flows/{id}` answers with the SDK's `Flow` shape (`type` `WORKFLOW`;
`publishedVersion` only when published) for a registered workflow, or in the open
mode for one a stored trigger targets.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from chainsim.fakebus.errors import Violation, bad_request
from chainsim.model import InputError, format_place, input_error_from, read_document

FLOWS_PATH = "/api/v2/flows"


class Workflow(BaseModel):
    """One registered workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(min_length=1)
    name: StrictStr = ""
    published: StrictBool = True


_LIST = TypeAdapter(list[Workflow])


def load_workflows(path: str | Path) -> list[Workflow]:
    """Read a workflows file (JSON or YAML list); bad content raises `InputError`."""
    data = read_document(path)
    if isinstance(data, dict) and "entities" in data:
        data = data["entities"]
    if not isinstance(data, list):
        raise InputError(str(path), "", "expected a list of {id, name, published}")
    try:
        workflows = _LIST.validate_python(data)
    except ValidationError as exc:
        raise input_error_from(str(path), exc) from None
    seen: set[str] = set()
    for index, workflow in enumerate(workflows):
        if workflow.id in seen:
            raise InputError(str(path), format_place((index, "id")), f"duplicate id {workflow.id}")
        seen.add(workflow.id)
    return workflows


class Workflows:
    """A closed registry (given) or an open one (every targeted workflow exists)."""

    def __init__(self, registry: Iterable[Workflow | dict[str, Any]] | None = None) -> None:
        self.closed = registry is not None
        self._known: dict[str, Workflow] = {}
        for item in registry or ():
            workflow = item if isinstance(item, Workflow) else Workflow.model_validate(item)
            self._known[workflow.id] = workflow

    def __repr__(self) -> str:
        mode = "closed" if self.closed else "open"
        return f"Workflows({mode}, {len(self._known)} registered)"

    def check_target(self, target: dict[str, Any], field: str = "target.id") -> None:
        """400 when a closed registry does not hold the target workflow."""
        workflow_id = target.get("id")
        if self.closed and workflow_id not in self._known:
            message = f"Workflow {workflow_id} does not exist"
            raise bad_request(message, [Violation("invalid.target", message, field)])

    def target_problems(self, target: dict[str, Any]) -> list[str]:
        """Why a trigger test's target validation fails (empty: it passes)."""
        if target.get("type") != "Workflow":
            return [f"target type {target.get('type')} is not Workflow"]
        workflow_id = target.get("id")
        if not self.closed:
            return []
        workflow = self._known.get(str(workflow_id))
        if workflow is None:
            return [f"Workflow {workflow_id} does not exist"]
        if not workflow.published:
            return [f"Workflow {workflow_id} is not published"]
        return []

    def flow(self, workflow_id: str, targeted: bool) -> dict[str, Any] | None:
        """The SDK `Flow` JSON of a workflow, or None; `targeted`: a trigger targets it."""
        workflow = self._known.get(workflow_id)
        if workflow is None:
            if self.closed or not targeted:
                return None
            workflow = Workflow(id=workflow_id)
        out: dict[str, Any] = {
            "id": workflow.id,
            "name": workflow.name or workflow.id,
            "type": "WORKFLOW",
            "active": True,
            "system": False,
            "deleted": False,
            "selfUri": f"{FLOWS_PATH}/{workflow.id}",
        }
        if workflow.published:
            out["publishedVersion"] = {"id": "1.0", "name": "1.0"}
        return out

    def registered(self) -> list[dict[str, Any]]:
        """The registry as given (empty when open)."""
        return [w.model_dump() for w in self._known.values()]
