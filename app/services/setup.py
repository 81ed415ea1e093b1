"""Reference data, demo data and deployment of the ``bpmn/`` and ``forms/`` folders."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.data.models import Department, User
from app.engine.definitions.deploy import DeployResult, deploy
from app.formkit.definition import load_forms
from app.services.accounts import save_user
from app.services.approvals import KINDS

DEPARTMENTS = (
    ("marketing", "营销支持科", "Marketing Support"),
    ("quality", "质量部", "Quality"),
    ("technical", "技术部", "Technical"),
    ("production", "生产车间", "Production Workshop"),
    ("purchasing", "采购部", "Purchasing"),
    ("warehouse", "仓储物流科", "Warehouse & Logistics"),
    ("finance", "财务部", "Finance"),
    ("management", "总经理办公室", "General Management"),
)
DEMO_PASSWORD = "demo"  # noqa: S105 - demo data only, documented in the README


def ensure_departments(session: Session) -> dict[str, Department]:
    """Create the company's departments if missing; return them by code."""
    existing = {d.code: d for d in session.scalars(select(Department))}
    for code, zh, en in DEPARTMENTS:
        if code not in existing:
            existing[code] = Department(code=code, name_zh=zh, name_en=en)
            session.add(existing[code])
    session.flush()
    return existing


def known_department_names(session: Session) -> set[str]:
    names: set[str] = set()
    for d in session.scalars(select(Department)):
        names.update({d.code.lower(), d.name_zh.lower(), d.name_en.lower()})
    return names


def seed_demo(session: Session) -> list[str]:
    """Demo organisation: a staff user and a head per department, plus one user per role.

    Idempotent: existing users are left as they are. Returns the usernames created.
    """
    departments = ensure_departments(session)
    wanted: list[tuple[str, str, dict[str, bool], set[str]]] = []
    for code, zh, _en in DEPARTMENTS:
        if code == "management":
            continue
        roles = {"quality_engineer"} if code == "quality" else set()
        wanted.append((code, f"{zh}专员", {code: False}, roles))
        wanted.append((f"{code}_head", f"{zh}主管", {code: True}, set()))
    wanted += [
        ("manager", "总经理", {"management": True}, {"manager"}),
        ("designer", "流程设计师", {}, {"designer"}),
        ("auditor", "审计员", {}, {"auditor"}),
        ("admin", "系统管理员", {}, {"admin"}),
    ]
    created: list[str] = []
    existing = set(session.scalars(select(User.username)))
    for username, name, memberships, roles in wanted:
        if username in existing:
            continue
        save_user(
            session, username, name, password=DEMO_PASSWORD, email=f"{username}@example.com",
            departments={departments[c].id: head for c, head in memberships.items()}, roles=roles,
        )
        created.append(username)
    return created


def deploy_folder(session: Session, bpmn_dir: str | Path, forms_dir: str | Path,
                  actor_id: int | None = None) -> DeployResult:
    """Deploy every ``*.bpmn`` file with the forms of ``forms_dir`` (no-op when unchanged)."""
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(Path(bpmn_dir).glob("*.bpmn"))}
    forms = load_forms(forms_dir)
    return deploy(session, sources, forms, actor_id=actor_id,
                  known_departments=known_department_names(session), known_approvals=set(KINDS))
