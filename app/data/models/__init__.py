"""ORM models, one module per concern; importing this package registers them all."""

from app.data.models.accounts import ROLES, ApiToken, Department, Membership, User, UserRole
from app.data.models.alerts import AlertDimension, AlertStatus, CaseSerial, RepeatCluster, RepeatClusterCase
from app.data.models.analytics import (
    AssessmentLine,
    AssessmentWeek,
    CaseMatchKey,
    CaseRepeat,
    CaseRootCause,
    CycleMonth,
    CycleRollup,
)
from app.data.models.audit import AuditChainHead, AuditEvent, AuditExport
from app.data.models.calendar import CalendarOverride, CalendarYearConfirmation
from app.data.models.cases import Case, Counter
from app.data.models.comments import CaseComment
from app.data.models.inbox import DelegationState, SavedFilter, Substitution, TaskDelegation
from app.data.models.notifications import (
    EmailOutbox,
    Notification,
    NotificationOptOut,
    TaskEscalation,
    TaskLateness,
)
from app.data.models.process import (
    FormDefinition,
    HumanTask,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    TaskState,
)
from app.data.models.public import PublicSubmission, SurveyResponse
from app.data.models.ratelimit import RateHit
from app.data.models.search import CaseSearch
from app.data.models.settings import AppSetting
from app.data.models.work import PendingUpload, TaskDraft

__all__ = [
    "AlertDimension",
    "AlertStatus",
    "CaseSerial",
    "RepeatCluster",
    "RepeatClusterCase",
    "ROLES",
    "ApiToken",
    "AppSetting",
    "AssessmentLine",
    "AssessmentWeek",
    "AuditChainHead",
    "AuditEvent",
    "AuditExport",
    "CalendarOverride",
    "CalendarYearConfirmation",
    "Case",
    "CaseComment",
    "CaseMatchKey",
    "CaseRepeat",
    "CaseRootCause",
    "CaseSearch",
    "CycleMonth",
    "CycleRollup",
    "Counter",
    "DelegationState",
    "Department",
    "EmailOutbox",
    "FormDefinition",
    "HumanTask",
    "InstanceStatus",
    "Membership",
    "Notification",
    "PendingUpload",
    "NotificationOptOut",
    "ProcessDefinition",
    "ProcessInstance",
    "RateHit",
    "PublicSubmission",
    "SavedFilter",
    "Substitution",
    "SurveyResponse",
    "TaskDelegation",
    "TaskDraft",
    "TaskEscalation",
    "TaskLateness",
    "TaskState",
    "User",
    "UserRole",
]
