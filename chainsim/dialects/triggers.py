"""The `triggers` dialect: Process Automation triggers, Genesys Cloud's real event rules.

Pure (no SDK; the SDK client `bus.genesys.TriggersBus` loads it lazily):

1. **Mapping**: a trigger in the SDK's wire JSON <-> chainsim's `Rule`. `topicName` <->
   `eventType`; the jsonPaths of `Exists` criteria <-> `filters.attributes`; `id`,
   `name`, `enabled`, `version`, `description` by name. Everything else a trigger
   carries (`target`, `eventTTLSeconds`, `delayBySeconds`, `selfUri`, and the full
   `matchCriteria` list, other operators included) rides on the Rule as extra fields and
   comes back untouched. `filters.attributes` is authoritative for `Exists` criteria:
   writing a Rule back appends an `Exists` criterion for each new attribute and drops
   the `Exists` criterion of an attribute removed from it; every other criterion keeps
   its place and form (`$.x` stays `$.x`). Field names: the SDK's `Trigger`,
   `UpdateTriggerRequest` and `CreateTriggerRequest` models
   (PureCloudPlatformClientV2/models/trigger.py and siblings).
2. **Desired state**: `desired_trigger` / `TriggersMerger`: plan `rules:` settings
   (enabled, workflow target, data format) and, per link, the destination's preserved
   attributes as `Exists` criteria, merged, never duplicated. Triggers carry no
   `invokeRule` actions.
3. **The dialect object** `TRIGGERS`: codec, merger, constraints, client factory, catalogue.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from chainsim.bus.base import BadRequest, BusError
from chainsim.dialects.base import items_carry
from chainsim.model import (
    ChainLink,
    ChainPlan,
    InputError,
    Rule,
    RuleSettings,
    format_place,
)

if TYPE_CHECKING:
    import httpx

    from chainsim.bus.base import Bus, ExchangeObserver
    from chainsim.clock import Clock
    from chainsim.fakebus import FakeBus

NAME = "triggers"
EXISTS = "Exists"
WORKFLOW = "Workflow"
TRIGGER_FIELDS = ("id", "name", "topicName", "enabled", "version", "description")

# --------------------------------------------------------------------------- mapping


def attribute_of(json_path: str) -> str:
    """The event-body key a trigger jsonPath names: `$.queueId` and `queueId` -> `queueId`."""
    path = json_path.strip()
    if path.startswith("$."):
        return path[2:]
    if path == "$":
        return ""
    return path


def is_attribute_criterion(criterion: Mapping[str, Any]) -> bool:
    """True for an `Exists` criterion that requires its path (not `value: false`)."""
    operator = str(criterion.get("operator", ""))
    return (
        operator.lower() == EXISTS.lower()
        and isinstance(criterion.get("jsonPath"), str)
        and criterion.get("value", True) is not False
    )


def exists_attributes(criteria: Iterable[Mapping[str, Any]]) -> list[str]:
    """The attributes a trigger's `Exists` criteria require, in order, without repeats."""
    found = (attribute_of(c["jsonPath"]) for c in criteria if is_attribute_criterion(c))
    return list(dict.fromkeys(a for a in found if a))


def criteria_paths(criteria: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every attribute any criterion reads (any operator): what the trigger can prove."""
    found = (attribute_of(c["jsonPath"]) for c in criteria if isinstance(c.get("jsonPath"), str))
    return list(dict.fromkeys(a for a in found if a))


def merge_exists(
    criteria: Iterable[Mapping[str, Any]], attributes: Iterable[str]
) -> list[dict[str, Any]]:
    """`criteria` with one requiring `Exists` per attribute; other criteria kept as they are."""
    wanted = list(dict.fromkeys(attributes))
    keep = set(wanted)
    present: set[str] = set()
    out: list[dict[str, Any]] = []
    for criterion in criteria:
        if is_attribute_criterion(criterion):
            name = attribute_of(criterion["jsonPath"])
            if name and name not in keep:
                continue  # the attribute was removed from the rule
            present.add(name)
        out.append(dict(criterion))
    out.extend(
        {"jsonPath": name, "operator": EXISTS, "value": True}
        for name in wanted
        if name not in present
    )
    return out


def trigger_to_rule(trigger: Mapping[str, Any]) -> Rule:
    """A trigger (SDK wire JSON) as a chainsim `Rule`; fields chainsim does not own ride along."""
    data = dict(trigger)
    topic = data.pop("topicName", None)
    if not isinstance(topic, str) or not topic:
        raise BadRequest(f"trigger {data.get('id')!r} has no topicName")
    if "eventType" in data or "filters" in data or "actions" in data:
        raise BadRequest(f"trigger {data.get('id')!r} carries EventBridge-rule fields")
    criteria = data.get("matchCriteria") or []
    data["eventType"] = topic
    data["filters"] = {"attributes": exists_attributes(criteria)}
    return Rule.model_validate(data)


def rule_to_trigger(rule: Rule) -> dict[str, Any]:
    """A `Rule` back in trigger wire JSON (the inverse of `trigger_to_rule`)."""
    if rule.actions:
        raise BadRequest(
            f"rule {rule.id!r}: triggers carry no actions; chain links are realised by workflows"
        )
    wire = rule.to_wire()
    wire.pop("actions", None)
    filters = wire.pop("filters", None) or {}
    wire["topicName"] = wire.pop("eventType")
    original = wire.get("matchCriteria")
    merged = merge_exists(original or [], filters.get("attributes") or [])
    if merged or original is not None:
        wire["matchCriteria"] = merged
    return wire


UPDATE_FIELDS = (
    "version",
    "enabled",
    "target",
    "matchCriteria",
    "name",
    "topicName",
    "eventTTLSeconds",
    "delayBySeconds",
    "description",
)
CREATE_FIELDS = tuple(f for f in UPDATE_FIELDS if f != "version")


def request_body(rule: Rule, fields: tuple[str, ...] = UPDATE_FIELDS) -> dict[str, Any]:
    """The `UpdateTriggerRequest` (or, with CREATE_FIELDS, create) wire body for a rule."""
    wire = rule_to_trigger(rule)
    body = {key: wire[key] for key in fields if key in wire}
    if "version" not in fields and not body.get("name"):
        body["name"] = rule.id  # a new trigger needs a name; an update never renames one
    return body


# --------------------------------------------------------------------------- desired state


def _target_with(target: Any, settings: RuleSettings) -> dict[str, Any] | None:
    """The trigger target after the plan's workflow and data format are applied."""
    if settings.workflow is None and settings.data_format is None:
        return None
    out: dict[str, Any] = dict(target) if isinstance(target, Mapping) else {}
    if settings.workflow is not None:
        out["type"] = WORKFLOW
        out["id"] = settings.workflow
    else:
        out.setdefault("type", WORKFLOW)
    if settings.data_format is not None:
        wts = out.get("workflowTargetSettings")
        wts = dict(wts) if isinstance(wts, Mapping) else {}
        wts["dataFormat"] = settings.data_format
        out["workflowTargetSettings"] = wts
    return out


def preserved_into(plan: ChainPlan, rule_id: str) -> list[str]:
    """Every attribute the plan's links preserve into `rule_id`, in plan order."""
    out: list[str] = []
    for link in plan.links:
        if link.destination == rule_id:
            out.extend(link.preserve)
    return list(dict.fromkeys(out))


def desired_trigger(rule: Rule, plan: ChainPlan, preserved: Iterable[str] | None = None) -> Rule:
    """The trigger `rule` as apply should leave it: plan settings + preserved `Exists` criteria.

    The dialect hook for plan/merge: call it with the *current* rule (also after a 409
    re-read, so another writer's changes are kept); an equal result means no update.
    Only the trigger's plan settings and its `Exists` criteria can change.
    """
    settings = plan.rules.get(rule.id)
    wire = rule.to_wire()
    changed = False
    if settings is not None:
        if settings.enabled is not None and settings.enabled != rule.enabled:
            wire["enabled"] = settings.enabled
            changed = True
        target = _target_with(wire.get("target"), settings)
        if target is not None and target != wire.get("target"):
            wire["target"] = target
            changed = True
    into = preserved_into(plan, rule.id) if preserved is None else list(preserved)
    attributes = list(dict.fromkeys([*rule.attributes, *into]))
    if attributes != rule.attributes:
        wire["filters"] = {**wire.get("filters", {}), "attributes": attributes}
        changed = True
    return Rule.model_validate(wire) if changed else rule


def planned_trigger_ids(plan: ChainPlan) -> list[str]:
    """The trigger ids a plan may write: those with `rules:` settings and link destinations."""
    ids = [*plan.rules, *(link.destination for link in plan.links)]
    return list(dict.fromkeys(ids))


def declared_attributes(plan: ChainPlan) -> dict[str, list[str]]:
    """`rules.<id>.attributes` of the plan: what the validator may trust for each trigger."""
    return {rid: list(s.attributes) for rid, s in plan.rules.items() if s.attributes}


class TriggersMerger:
    """plan.py's `Merger` for triggers: settings and `Exists` criteria on planned triggers.

    Targets are the triggers named under `rules:` and every link destination (sources
    are not written: triggers have no actions). `TRIGGERS.merger` is the dialect's one.
    """

    def __init__(self) -> None:
        self._last: tuple[ChainPlan, dict[str, list[str]]] | None = None

    def targets(self, index: Any) -> list[str]:
        """Ids with plan settings, then link destinations, in plan order, without repeats."""
        return planned_trigger_ids(index.plan)

    def desired(self, current: Rule, index: Any) -> Rule:
        """`desired_trigger` of `current` under the plan (preserved attributes indexed once)."""
        preserved = self._preserved(index.plan)
        return desired_trigger(current, index.plan, preserved.get(current.id, ()))

    def wire(self, rule: Rule) -> dict[str, Any]:
        """The trigger as it is PUT (`UpdateTriggerRequest` body): plan.py shows changes so."""
        return request_body(rule)

    def declared_attributes(self, plan: ChainPlan, rules: Iterable[Rule]) -> dict[str, list[str]]:
        """What the validator may trust per trigger (Orchestrator.validate's hook)."""
        return validation_attributes(plan, rules)

    def removal_targets(self, links: Iterable[ChainLink]) -> list[str]:
        """The triggers removing `links` may write: their destinations, in order."""
        return list(dict.fromkeys(link.destination for link in links))

    def unmerge(self, current: Rule, links: Iterable[ChainLink], index: Any) -> Rule:
        """`current` without the `Exists` criteria chainsim added for the removed `links`.

        A link is realised on its destination trigger by an `Exists` criterion per
        preserved attribute (`desired_trigger`); removing it drops those criteria, except
        an attribute another link of the plan that stays (`index.plan.links` not being
        removed) still preserves into `current`. Other criteria, operators and fields stay.
        Chainsim cannot tell a criterion it added from an identical one that was there
        before; a removed link's preserved attributes are taken as chainsim's.
        """
        removing = [link for link in links if link.destination == current.id]
        drop = {name for link in removing for name in link.preserve}
        keys = {_link_key(link) for link in removing}
        for link in index.plan.links:
            if link.destination == current.id and _link_key(link) not in keys:
                drop -= set(link.preserve)
        attributes = [name for name in current.attributes if name not in drop]
        if attributes == current.attributes:
            return current
        wire = current.to_wire()
        wire["filters"] = {**wire.get("filters", {}), "attributes": attributes}
        return Rule.model_validate(wire)

    def _preserved(self, plan: ChainPlan) -> dict[str, list[str]]:
        last = self._last
        if last is not None and last[0] is plan:
            return last[1]
        grouped: dict[str, list[str]] = {}
        for link in plan.links:
            grouped.setdefault(link.destination, []).extend(link.preserve)
        mapping = {k: list(dict.fromkeys(v)) for k, v in grouped.items()}
        self._last = (plan, mapping)
        return mapping


def _link_key(link: ChainLink) -> tuple[str, str]:
    """A link's identity for removal: (source, destination)."""
    return link.source, link.destination


def validation_attributes(plan: ChainPlan, rules: Iterable[Rule]) -> dict[str, list[str]]:
    """`declared_attributes` for `validate_chain(dialect="triggers")`: what each trigger carries.

    A trigger carries every field of its topic's event schema (DESIGN §4: "a trigger's
    carried attributes are its topic's schema fields", from the offline catalogue),
    what any of its criteria reads (any operator) and the plan's `rules.<id>.attributes`.
    The Rule's `filters.attributes` holds only the `Exists` ones, so pass this mapping.
    """
    from chainsim.dialects.catalogue import load_catalogue

    catalogue = load_catalogue()
    declared = declared_attributes(plan)
    out: dict[str, list[str]] = {}
    for rule in rules:
        fields = (
            sorted(catalogue.field_paths(rule.event_type)) if rule.event_type in catalogue else []
        )
        extra = [*carried_attributes(rule), *declared.get(rule.id, ()), *fields]
        if extra:
            out[rule.id] = list(dict.fromkeys(extra))
    for rule_id, names in declared.items():
        out.setdefault(rule_id, list(names))
    return out


def carried_attributes(rule: Rule) -> list[str]:
    """The attributes a trigger provably carries: every jsonPath its criteria read."""
    criteria = rule.model_extra.get("matchCriteria") if rule.model_extra else None
    paths = criteria_paths(criteria) if isinstance(criteria, list) else []
    return list(dict.fromkeys([*paths, *rule.attributes]))


# --------------------------------------------------------------------------- the dialect


def trigger_rule(source: str, place: str, item: Mapping[str, Any]) -> Rule:
    """`trigger_to_rule`, a bad trigger raising `InputError` at `source`, `place`."""
    try:
        return trigger_to_rule(item)
    except BusError as exc:
        raise InputError(source, place, exc.message.splitlines()[0]) from None
    except ValidationError as exc:  # a field of the wrong type: name the field
        first = exc.errors(include_url=False)[0]
        field = format_place([p for p in first["loc"] if p != "eventType"]) or "topicName"
        raise InputError(source, f"{place}.{field}", first["msg"]) from None
    except ValueError as exc:
        raise InputError(source, place, str(exc).splitlines()[0]) from None


def parse_triggers(source: str, data: Any) -> list[Rule]:
    """Rules from parsed trigger wire JSON: a list, or an object with the list under `entities`."""
    prefix: tuple[str, ...] = ()
    if isinstance(data, Mapping) and "entities" in data:
        data, prefix = data["entities"], ("entities",)
    if not isinstance(data, list):
        raise InputError(source, "", "expected a list of triggers, or an object with `entities`")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise InputError(source, format_place((*prefix, index)), "expected a trigger object")
        try:
            rule = trigger_to_rule(item)
        except (BusError, ValueError) as exc:
            place = format_place((*prefix, index))
            raise InputError(source, place, str(exc).splitlines()[0]) from None
        if rule.id in seen:
            place = format_place((*prefix, index, "id"))
            raise InputError(source, place, f"duplicate trigger id {rule.id!r}")
        seen.add(rule.id)
        rules.append(rule)
    return rules


class TriggersDialect:
    """Process Automation triggers (`/api/v2/processautomation/triggers`) via the SDK."""

    name = NAME
    links_on_rules = False  # links are realised by workflows, not by actions on triggers
    test_mode = True  # SDK ProcessAutomationApi.post_processautomation_trigger_test

    def __init__(self) -> None:
        self.merger = TriggersMerger()

    def detects(self, data: Any) -> bool:
        """True for a non-empty list (or `entities`) of objects that carry `topicName`."""
        return items_carry(data, "topicName")

    def parse(self, source: str, data: Any) -> list[Rule]:
        """Rules from parsed trigger wire JSON (see `parse_triggers`)."""
        return parse_triggers(source, data)

    def read(self, path: str | Path) -> list[Rule]:
        """Rules from an inventory of triggers (file or directory of pages; `inventory`)."""
        from chainsim.dialects.inventory import read_inventory

        return read_inventory(path, NAME).rules

    def to_wire(self, rule: Rule) -> dict[str, Any]:
        """`rule_to_trigger`."""
        return rule_to_trigger(rule)

    def write(self, rules: Iterable[Rule]) -> dict[str, Any]:
        """`{"entities": [trigger, ...]}`, the shape of the SDK's `TriggerEntityListing`."""
        return {"entities": [rule_to_trigger(rule) for rule in rules]}

    def declared_attributes(
        self, plan: ChainPlan, rules: Iterable[Rule]
    ) -> dict[str, list[str]] | None:
        """`validation_attributes`: plan-declared attributes plus every path criteria read."""
        return validation_attributes(plan, rules)

    def link_realised(self, link: ChainLink, rules: Mapping[str, Rule]) -> bool:
        """The destination trigger's criteria require every attribute the link preserves."""
        dest = rules.get(link.destination)
        return dest is not None and set(link.preserve) <= set(dest.attributes)

    def client(
        self,
        http: httpx.Client,
        auth: Any,
        *,
        api_host: str,
        login_host: str,
        clock: Clock,
        on_exchange: ExchangeObserver | None = None,
    ) -> Bus:
        """`TriggersBus.from_httpx` (the Genesys SDK loads here, on first use)."""
        from chainsim.bus.genesys import TriggersBus

        return TriggersBus.from_httpx(
            http,
            auth,
            api_host=api_host,
            login_host=login_host,
            clock=clock,
            on_exchange=on_exchange,
        )

    def seed(self, fake: FakeBus, path: str | Path) -> None:
        """Seed the fake's triggers from the inventory at `path`, one by one so a bad one is named.

        The same normalised triggers every offline command reads (`inventory.trigger_items`):
        a trigger without an id gets the same `trigger-<n>` here as offline.
        """
        from chainsim.dialects.inventory import resolve_dialect, trigger_items
        from chainsim.fakebus.errors import FakeError

        resolve_dialect(NAME, Path(path))  # an EventBridge file is bad input, said once
        for source, place, item in trigger_items(path):
            try:
                fake.seed_triggers([item])
            except FakeError as exc:
                raise InputError(source, place, exc.message) from None

    def stored(self, fake: FakeBus) -> list[dict[str, Any]]:
        """The fake's triggers (wire JSON)."""
        return list(fake.triggers())

    def rule_extra(self, workflow_id: str) -> dict[str, Any]:
        """A workflow target: every trigger needs one (SDK `CreateTriggerRequest.target`)."""
        return {
            "target": {
                "type": WORKFLOW,
                "id": workflow_id,
                "workflowTargetSettings": {"dataFormat": "Json"},
            }
        }

    def plan_settings(
        self, ids: Iterable[str], attributes: Iterable[str], workflow_id: str
    ) -> dict[str, dict[str, Any]]:
        """Each trigger's workflow and the attributes the plan declares it carries."""
        names = list(attributes)
        return {rule_id: {"workflow": workflow_id, "attributes": list(names)} for rule_id in ids}

    def needs_workflow(self) -> bool:
        """True: a live trigger must target a workflow of the org."""
        return True

    def catalogue(self, bus: Any | None = None) -> Any | None:
        """The topic catalogue: the org's own (`bus.available_topics()`) when `bus` may read it,
        else the offline one (`catalogue.load_catalogue()`), said on stderr when it fell back."""
        from chainsim.dialects.catalogue import from_available_topics, load_catalogue

        reader = getattr(bus, "available_topics", None)
        if callable(reader):
            try:
                return from_available_topics(reader())
            except (BusError, ValueError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                sys.stderr.write(
                    f"chainsim: the org's topic catalogue is not readable ({reason}); "
                    "using the offline catalogue\n"
                )
        return load_catalogue()

    def lint(self, items: Iterable[Mapping[str, Any]], catalogue: Any | None = None) -> list[Any]:
        """`trigger_lint.lint_triggers` on the triggers (offline catalogue when none given)."""
        from chainsim.dialects.catalogue import load_catalogue
        from chainsim.dialects.trigger_lint import lint_triggers

        chosen = catalogue if catalogue is not None else load_catalogue()
        return lint_triggers(list(items), chosen)

    def __repr__(self) -> str:
        return "TriggersDialect()"
