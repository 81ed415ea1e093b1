"""ORM models, one module per concern; importing this package registers them all."""

from app.data.models.accounts import ROLES, ApiToken, Department, Membership, User, UserRole
from app.data.models.audit import AuditEvent
from app.data.models.cases import Case, Counter
from app.data.models.process import (
    FormDefinition,
    HumanTask,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    TaskState,
)
from app.data.models.public import PublicSubmission, SurveyResponse

__all__ = [
    "ROLES",
    "ApiToken",
    "AuditEvent",
    "Case",
    "Counter",
    "Department",
    "FormDefinition",
    "HumanTask",
    "InstanceStatus",
    "Membership",
    "ProcessDefinition",
    "ProcessInstance",
    "PublicSubmission",
    "SurveyResponse",
    "TaskState",
    "User",
    "UserRole",
]
