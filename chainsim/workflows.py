"""Chains through workflows (triggers dialect): links derived from what workflows cause.

In Genesys Cloud a Process Automation trigger invokes one workflow (its `target`,
`{"type": "Workflow", "id": ...}`, SDK `Trigger.target` / `TriggerTarget`); what that
workflow then does — set conversation attributes, end a call, create a callback — raises
new events on other topics, which fire the triggers on those topics. The org holds no
record of that second half, so a plan states it under `workflows:` (DESIGN §2):

    workflows:
      <workflow id>: {name: ..., emits: [{topic: <topic>, sets: [field, ...]}]}

From the triggers (`eventType` = topicName, the target workflow id kept on the Rule as
a pydantic extra) and that block, every trigger X whose workflow W emits on topic T is
linked to every trigger Y on T: `X -> Y`, a `ChainLink` with `event_type` = X's topic.
These derived links are checked and simulated like the plan's `links:`.

Decisions (no Genesys source describes a workflow's emitted event; these are chainsim's):
- A derived link **preserves and transforms nothing**: the event W raises on T is a new
  event of T's own schema, not a copy of the event that invoked W, so no field of X's
  event is promised to Y. `sets` names the fields of T's event that W writes; it is
  kept on `WorkflowLink` and shown in findings (the usual fix of a loop is criteria on
  Y that exclude what W sets), never turned into `preserve` (that would demand the
  fields on X, which does not carry them).
- Only triggers that fire count: a trigger disabled after the plan's `rules.<id>.enabled`
  is neither a source nor a destination. The plan's `rules.<id>.workflow` overrides a
  trigger's target, as apply will write it.
- An explicit `links:` entry wins over a derived link with the same source and
  destination; the same derived pair reached twice (two emits of one topic) is one link.
- A trigger whose own workflow re-fires it (the classic: a workflow that sets
  conversation attributes, invoked by a trigger on the attributes topic) is a derived
  self link; it is reported as a `cycle`, not as `self_link` (nobody wrote that link).

Pure: no I/O, no SDK.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TYPE_CHECKING

from chainsim.model import ChainLink, ChainPlan, Rule

if TYPE_CHECKING:
    from chainsim.validate import Finding, ValidationReport

WORKFLOW_TARGET = "Workflow"  # SDK TriggerTarget.type's allowed value


@dataclass(frozen=True, slots=True)
class WorkflowLink:
    """Trigger `source` -> its `workflow` -> event on `topic` -> trigger `destination`."""

    source: str
    source_topic: str
    workflow: str
    workflow_name: str | None
    topic: str
    destination: str
    sets: tuple[str, ...] = ()

    def to_chain_link(self) -> ChainLink:
        """The plan-form link this derivation stands for (nothing preserved or transformed)."""
        return ChainLink(
            source=self.source, destination=self.destination, event_type=self.source_topic
        )

    @property
    def workflow_label(self) -> str:
        """The workflow's name from the plan, else its id."""
        return self.workflow_name or self.workflow


def target_id(rule: Rule) -> str | None:
    """The workflow id a trigger invokes: its wire `target.id` when `target.type` is Workflow."""
    extra = rule.model_extra or {}
    target = extra.get("target")
    if not isinstance(target, Mapping):
        return None
    kind, ident = target.get("type", WORKFLOW_TARGET), target.get("id")
    if kind != WORKFLOW_TARGET or not isinstance(ident, str) or not ident:
        return None
    return ident


def firing_triggers(plan: ChainPlan, rules: Iterable[Rule]) -> list[tuple[Rule, str | None]]:
    """The triggers that fire under the plan, each with the workflow it will invoke."""
    out: list[tuple[Rule, str | None]] = []
    for rule in rules:
        settings = plan.rules.get(rule.id)
        enabled = rule.enabled
        workflow = target_id(rule)
        if settings is not None:
            if settings.enabled is not None:
                enabled = settings.enabled
            if settings.workflow is not None:
                workflow = settings.workflow
        if enabled:
            out.append((rule, workflow))
    return out


def derive_links(plan: ChainPlan, rules: Iterable[Rule]) -> list[WorkflowLink]:
    """Every trigger -> workflow -> topic -> trigger step the plan's `workflows:` implies.

    One entry per (source, emit, destination), in inventory order of the source, then
    emit order, then inventory order of the destination: an emit repeated counts twice
    (capacity needs the multiplicity; `plan_links` folds them).
    """
    if not plan.workflows:
        return []
    firing = firing_triggers(plan, rules)
    on_topic: dict[str, list[str]] = {}
    for rule, _ in firing:
        on_topic.setdefault(rule.event_type, []).append(rule.id)
    out: list[WorkflowLink] = []
    for rule, workflow in firing:
        spec = plan.workflows.get(workflow) if workflow is not None else None
        if spec is None or workflow is None:
            continue
        for emit in spec.emits:
            for dest in on_topic.get(emit.topic, ()):
                out.append(
                    WorkflowLink(
                        rule.id,
                        rule.event_type,
                        workflow,
                        spec.name,
                        emit.topic,
                        dest,
                        tuple(emit.sets),
                    )
                )
    return out


def plan_links(plan: ChainPlan, rules: Iterable[Rule]) -> list[ChainLink]:
    """The plan's `links:` then its derived links (new source/destination pairs only)."""
    explicit = list(plan.links)
    if not plan.workflows:  # the common case, and cheap on plans of 100,000 links
        return explicit
    seen = {(link.source, link.destination) for link in explicit}
    derived: list[ChainLink] = []
    for step in derive_links(plan, rules):
        pair = (step.source, step.destination)
        if pair not in seen:
            seen.add(pair)
            derived.append(step.to_chain_link())
    return explicit + derived


def derived_index(plan: ChainPlan, rules: Iterable[Rule]) -> dict[tuple[str, str], WorkflowLink]:
    """The first derivation of each (source, destination) pair not already in `links:`."""
    if not plan.workflows:
        return {}
    explicit = {(link.source, link.destination) for link in plan.links}
    out: dict[tuple[str, str], WorkflowLink] = {}
    for step in derive_links(plan, rules):
        pair = (step.source, step.destination)
        if pair not in explicit:
            out.setdefault(pair, step)
    return out


def trigger_label(rule_id: str, names: Mapping[str, str]) -> str:
    """`trigger 'Name'` (the trigger's name, else its id)."""
    return f"trigger {names.get(rule_id) or rule_id!r}"


HOPS_SHOWN = 8  # a longer chain is elided in the middle (the finding's rule_ids keep it whole)


def chain_text(
    ids: Sequence[str],
    derived: Mapping[tuple[str, str], WorkflowLink],
    names: Mapping[str, str],
    limit: int = HOPS_SHOWN,
) -> str:
    """`trigger 'X' -> workflow 'W' -> topic T -> trigger 'Y' -> ...` along a path of ids."""
    hops = list(pairwise(ids))
    hidden = len(hops) - limit
    if hidden > 0:
        head, tail = hops[: limit // 2], hops[len(hops) - (limit - limit // 2) :]
        hops = [*head, ("", tail[0][0]), *tail]
    parts = [trigger_label(ids[0], names)] if ids else []
    for a, b in hops:
        if not a:  # the elided middle, up to the first trigger shown again
            parts.append(f"... {hidden} more hop(s) ...")
            parts.append(trigger_label(b, names))
            continue
        step = derived.get((a, b))
        if step is not None:
            parts.append(f"workflow {step.workflow_label!r}")
            parts.append(f"topic {step.topic}")
        parts.append(trigger_label(b, names))
    return " -> ".join(parts)


def _pairs(finding: Finding) -> list[tuple[str, str]]:
    ids = finding.rule_ids
    if finding.code == "fanout":
        return [(ids[0], other) for other in ids[1:]]
    return list(pairwise(ids))


def _loop(step: WorkflowLink, names: Mapping[str, str]) -> str:
    chain = chain_text([step.source, step.source], {(step.source, step.source): step}, names)
    sets = f" (it sets {', '.join(step.sets)})" if step.sets else ""
    return (
        f"cycle {chain}: workflow {step.workflow_label!r}{sets} raises an event on "
        f"{step.topic} that fires the trigger that invoked it, forever; give the trigger "
        "criteria that exclude what the workflow sets, or target another workflow"
    )


def explain(report: ValidationReport, plan: ChainPlan, rules: Iterable[Rule]) -> ValidationReport:
    """`report` (of `validate_chain` over `plan_links`) with derived links named by workflow.

    A derived self link becomes a `cycle`; a finding whose path crosses a derived link
    gets the chain through the workflows appended to its message.
    """
    from chainsim.validate import ValidationReport

    rules = list(rules)
    derived = derived_index(plan, rules)
    if not derived:
        return report
    names = {rule.id: rule.name for rule in rules if rule.name}
    out: list[Finding] = []
    for finding in report.findings:
        ids = finding.rule_ids
        loop = derived.get((ids[0], ids[0])) if ids else None
        if finding.code == "self_link" and loop is not None:
            out.append(
                replace(
                    finding, code="cycle", rule_ids=(ids[0], ids[0]), message=_loop(loop, names)
                )
            )
            continue
        steps = [pair for pair in _pairs(finding) if pair in derived]
        if not steps:
            out.append(finding)
            continue
        if finding.code == "fanout":
            chains = "; ".join(chain_text(pair, derived, names) for pair in steps)
        else:
            chains = chain_text(ids, derived, names)
        message = (
            f"{finding.message} (through workflows: {chains}; change what a workflow emits "
            "or a trigger's criteria)"
        )
        out.append(replace(finding, message=message))
    return ValidationReport(tuple(out))


def chain_of(ids: Sequence[str], plan: ChainPlan, rules: Iterable[Rule]) -> str:
    """A path of trigger ids as text, naming the workflows between them."""
    rules = list(rules)
    names = {rule.id: rule.name for rule in rules if rule.name}
    return chain_text(ids, derived_index(plan, rules), names)
