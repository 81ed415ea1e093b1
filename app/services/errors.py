"""Domain errors the services raise (authorization, input, state of a case or survey).

They are not engine errors: the engine knows nothing of users or permissions. The web and
API map each class to a response in one table (``app/api/errors.py``, ``app/web/errors.py``).
"""

from __future__ import annotations

from app.errors import AppError


class DomainError(AppError):
    """Base of the services' own errors."""

    code = "domain_error"


class Forbidden(DomainError):
    """The user may not do this (decided by the policy)."""

    code = "forbidden"


class InvalidInput(DomainError):
    """A request's parameters are malformed or out of range."""

    code = "invalid"


class ReasonRequired(DomainError):
    """A rejection needs a reason."""

    code = "reason_required"


class NotAnApproval(DomainError):
    """The task is not an approval step."""

    code = "not_an_approval"


class NotWaiting(DomainError):
    """The case no longer waits for the customer's information."""

    code = "not_waiting"


class AlreadyAnswered(DomainError):
    """The case's survey was answered already."""

    code = "already_answered"


class SurveyNotOpen(DomainError):
    """The survey opens once the customer has had the reply."""

    code = "survey_not_open"


class TooManyRequests(DomainError):
    """Throttled: too many (failed) attempts from this account or address; ``retry_after`` seconds."""

    code = "too_many_requests"
