"""Deploying BPMN and form definitions as immutable versions, and validating them without
storing anything (the designer's "save and validate"): both build each process the same way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from app.data.models import FormDefinition, ProcessDefinition
from app.engine import audit
from app.engine.context import Actor
from app.engine.definitions.confirm import CONFIRM_FORM, CONFIRM_FORM_KEY, form_key_of
from app.engine.definitions.lookup import get_definition, latest_definition, latest_form, task_properties
from app.engine.definitions.rules import check_rules
from app.engine.definitions.support import merge, unsupported
from app.engine.errors import DefinitionError, Problem
from app.engine.parser import (
    build_specs,
    called_processes,
    iter_task_specs,
    parse_sources,
    process_ids,
    sha256,
)
from app.formkit.definition import content_hash, validate_definition
from app.i18n import N_

NO_EXECUTABLE_PROCESS = N_("No process in this file is marked executable: tick Executable on the process in the "
                           "modeler (isExecutable=\"true\").")

CALLEE_MISSING = N_("The called process '%(key)s' is neither in this file nor deployed: deploy it first, or put "
                    "it in the same file.")


@dataclass
class DeployResult:
    definitions: list[ProcessDefinition] = field(default_factory=list)
    created: list[ProcessDefinition] = field(default_factory=list)
    forms: dict[str, FormDefinition] = field(default_factory=dict)


@dataclass
class BuiltProcess:
    """A process of an upload, parsed with the deployed processes it calls."""

    spec: Any
    subprocess_specs: dict[str, Any]
    #: called processes not in the upload → id of the deployed version they bind to
    deployed_callees: dict[str, int]
    #: form key → form (uploaded or latest deployed) for every formKey and startForm the process uses
    forms: dict[str, Any]
    used_forms: set[str]
    #: refusals and hints of the XML scan (:mod:`support`), reported with the rules' problems
    scanned: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------- forms


def _deployer(actor: Actor | None, actor_id: int | None) -> Actor:
    if actor is not None:
        return actor
    return Actor(actor_id, f"user {actor_id}") if actor_id is not None else Actor.system("deploy")


def deploy_forms(
    session: Session, forms: dict[str, dict[str, Any]], actor_id: int | None = None, actor: Actor | None = None
) -> dict[str, FormDefinition]:
    """Store each form as a new version unless its content equals the latest version (each new
    version audited as ``form_deployed``)."""
    problems = [
        Problem(N_("form %(key)s: %(problem)s"), element_id=key, params={"key": key, "problem": p})
        for key, definition in forms.items()
        for p in validate_definition(definition, key=key)
    ]
    if problems:
        raise DefinitionError(problems=problems)
    result: dict[str, FormDefinition] = {}
    for key, definition in forms.items():
        digest = content_hash(definition)
        current = latest_form(session, key)
        if current is not None and current.content_hash == digest:
            result[key] = current
            continue
        row = FormDefinition(
            key=key,
            version=(current.version + 1) if current else 1,
            content_hash=digest,
            content=definition,
            created_by_id=actor.id if actor is not None else actor_id,
        )
        session.add(row)
        session.flush()
        audit.record(session, actor=_deployer(actor, actor_id), action="form_deployed", element=key,
                     message=f"{key} v{row.version}",
                     before={"version": current.version, "content_hash": current.content_hash} if current else None,
                     after={"form_id": row.id, "version": row.version, "content_hash": digest})
        result[key] = row
    return result


# ---------------------------------------------------------------------------- building a process


def _gather_deployed_callees(
    session: Session, missing: Iterable[str], sources: dict[str, str], bound: dict[str, int]
) -> list[Problem]:
    """Add the XML of the deployed processes called (directly or not) but not uploaded."""
    problems: list[Problem] = []
    pending = list(missing)
    while pending:
        key = pending.pop()
        if key in bound:
            continue
        definition = latest_definition(session, key)
        if definition is None:
            problems.append(Problem(CALLEE_MISSING, element_id=key, params={"key": key}))
            continue
        bound[key] = definition.id
        if definition.bpmn_xml not in sources.values():  # one file may hold several processes
            sources[f"deployed:{definition.key}:v{definition.version}"] = definition.bpmn_xml
        pending.extend(definition.dependencies or {})
    return problems


def build_process(
    session: Session,
    parser: Any,
    sources: dict[str, str],
    pid: str,
    missing_callees: set[str],
    forms: dict[str, Any],
    known_departments: set[str] | None = None,
) -> tuple[BuiltProcess | None, list[Problem]]:
    """Parse process ``pid`` of an upload with the deployed processes it calls and find the
    forms it uses (``forms`` first, else their latest deployed version). Problems name the file."""
    process_parser = parser.get_process_parser(pid)
    file_name = process_parser.filename or ""
    scanned = unsupported(process_parser.node, file_name, known_departments)
    combined = dict(sources)
    deployed_callees: dict[str, int] = {}
    problems = _gather_deployed_callees(session, missing_callees, combined, deployed_callees)
    if problems:
        return None, merge(scanned, problems)
    try:
        full = parse_sources(combined, validate=False) if deployed_callees else parser
        spec, subprocess_specs = build_specs(full, pid, file_name)
    except DefinitionError as exc:
        return None, merge(scanned, list(exc.problems))
    used = {key for ts in iter_task_specs(spec, subprocess_specs) if (key := form_key_of(ts))}
    used |= {key for ts in iter_task_specs(spec, subprocess_specs) if (key := task_properties(ts).get("startForm"))}
    available = dict(forms)
    for key in used - set(available):
        existing = latest_form(session, key)
        if existing is not None:
            available[key] = existing
        elif key == CONFIRM_FORM_KEY:
            available[key] = CONFIRM_FORM  # stored by deploy when first used
    return BuiltProcess(spec, subprocess_specs, deployed_callees, available, used, scanned), []


def check_process(
    built: BuiltProcess, file_name: str, known_departments: set[str] | None, known_approvals: set[str] | None
) -> list[Problem]:
    """Our rules on a built process (and the XML scan's refusals), each problem tied to its file."""
    found = check_rules(built.spec, built.subprocess_specs, built.forms, known_departments, known_approvals)
    return merge(built.scanned, [replace(p, file_name=file_name) for p in found])


def _callees_first(ids: list[str], calls: dict[str, set[str]]) -> list[str]:
    """Process ids ordered so that every process comes after the processes it calls."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(pid: str) -> None:
        if pid in ordered or pid in visiting:
            return
        visiting.add(pid)
        for callee in sorted(calls.get(pid, ())):
            if callee in calls:
                visit(callee)
        visiting.discard(pid)
        ordered.append(pid)

    for pid in ids:
        visit(pid)
    return ordered


# ---------------------------------------------------------------------------- deploy


def deploy(
    session: Session,
    sources: dict[str, str],
    forms: dict[str, dict[str, Any]] | None = None,
    actor_id: int | None = None,
    known_departments: set[str] | None = None,
    known_approvals: set[str] | None = None,
    actor: Actor | None = None,
) -> DeployResult:
    """Validate and deploy BPMN files (and the forms they use) as new immutable versions.

    Each executable process becomes a definition version; content equal to the latest
    version of its key (diagram, called processes and forms alike) deploys nothing new.
    Raises DefinitionError listing every problem, each naming its element. Each new version is
    audited as ``definition_deployed``.
    """
    if actor is not None:
        actor_id = actor.id
    parser = parse_sources(sources)
    result = DeployResult()
    result.forms = deploy_forms(session, forms or {}, actor_id, actor)
    ids = process_ids(parser)
    if not ids:
        raise DefinitionError(problems=[Problem(NO_EXECUTABLE_PROCESS, file_name=name) for name in sources])
    problems: list[Problem] = []
    uploaded = set(parser.process_parsers)
    calls = {pid: called_processes(parser, pid) for pid in ids}
    deployed: dict[str, ProcessDefinition] = {}
    for pid in _callees_first(ids, calls):
        file_name = parser.get_process_parser(pid).filename or ""
        xml = sources.get(file_name) or next(iter(sources.values()))
        # Callees in this upload bind to the version deployed just now; others to the
        # latest deployed version, whose XML joins the sources for building the spec.
        bound = {key: deployed[key].id for key in calls[pid] & uploaded if key in deployed}
        if calls[pid] & uploaded - set(bound):
            problems.append(Problem(N_("a called process in this upload could not be deployed"), element_id=pid))
            continue
        built, found = build_process(session, parser, sources, pid, calls[pid] - uploaded, dict(result.forms),
                                     known_departments)
        problems += found
        if built is None or problems:
            continue
        found = check_process(built, file_name, known_departments, known_approvals)
        problems += found
        if found:
            continue
        if isinstance(built.forms.get(CONFIRM_FORM_KEY), dict):
            built.forms.update(deploy_forms(session, {CONFIRM_FORM_KEY: CONFIRM_FORM}, actor_id))
        bound.update(built.deployed_callees)
        row, created = _store_version(session, pid, file_name, xml, built, bound, actor_id)
        result.definitions.append(row)
        if created:
            result.created.append(row)
            audit.record(session, actor=_deployer(actor, actor_id), action="definition_deployed", element=pid,
                         message=f"{pid} v{row.version}",
                         after={"definition_id": row.id, "version": row.version, "source_name": file_name,
                                "content_hash": row.content_hash, "spec_hash": row.spec_hash,
                                "forms": row.forms, "dependencies": row.dependencies})
        deployed[pid] = row
    if problems:
        raise DefinitionError(problems=problems)
    return result


def _store_version(
    session: Session, pid: str, file_name: str, xml: str, built: BuiltProcess, bound: dict[str, int],
    actor_id: int | None,
) -> tuple[ProcessDefinition, bool]:
    """The latest version of ``pid`` when its content (diagram, callees, forms) is unchanged,
    else a new version; and whether it was created."""
    forms = built.forms
    form_ids = {key: forms[key].id for key in sorted(built.used_forms)}
    dep_hashes = sorted(get_definition(session, dep_id).spec_hash for dep_id in bound.values())
    form_hashes = sorted(forms[key].content_hash for key in built.used_forms)
    content = sha256(xml)
    spec_hash = sha256("|".join([pid, content, *dep_hashes, *form_hashes]))
    current = latest_definition(session, pid)
    if current is not None and current.spec_hash == spec_hash:
        return current, False
    spec = built.spec
    row = ProcessDefinition(
        key=pid,
        version=(current.version + 1) if current else 1,
        name=spec.description if spec.description != pid else None,
        source_name=file_name,
        content_hash=content,
        spec_hash=spec_hash,
        bpmn_xml=xml,
        dependencies=bound,
        forms=form_ids,
        deployed_by_id=actor_id,
    )
    session.add(row)
    session.flush()
    return row, True


# ---------------------------------------------------------------------------- validation without storing


def validate_sources(
    session: Session,
    sources: dict[str, str],
    known_departments: set[str] | None = None,
    forms: dict[str, dict[str, Any]] | None = None,
    known_approvals: set[str] | None = None,
) -> list[Problem]:
    """Every problem :func:`deploy` would find (plus path and timer checks), storing nothing.

    ``forms`` are form definitions not deployed yet that the diagram may use.
    """
    problems: list[Problem] = []
    try:
        parser = parse_sources(sources)
    except DefinitionError as exc:
        return list(exc.problems)
    available: dict[str, Any] = {}
    for key, definition in (forms or {}).items():
        problems += [Problem(N_("form %(key)s: %(problem)s"), element_id=key, params={"key": key, "problem": p})
                     for p in validate_definition(definition, key=key)]
        available[key] = definition
    ids = process_ids(parser)
    if not ids:
        return [*problems, *(Problem(NO_EXECUTABLE_PROCESS, file_name=name) for name in sources)]
    uploaded = set(parser.process_parsers)
    for pid in ids:
        process_parser = parser.get_process_parser(pid)
        file_name = process_parser.filename or ""
        try:
            missing = called_processes(parser, pid) - uploaded
        except DefinitionError as exc:  # the library could not even read the process: report the scan too
            problems += merge(unsupported(process_parser.node, file_name, known_departments), exc.problems)
            continue
        built, found = build_process(session, parser, sources, pid, missing, available, known_departments)
        problems += found
        if built is not None:
            problems += check_process(built, file_name, known_departments, known_approvals)
    unique: list[Problem] = []
    for problem in problems:
        if problem not in unique:
            unique.append(problem)
    return unique
