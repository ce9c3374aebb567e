"""Policy errors, each with a stable code."""

from __future__ import annotations

from portal.core.errors import Conflict, DomainError


class PolicyNotEditable(Conflict):
    code = "policy_not_editable"
    message = "Only a draft can be edited; edit the published version to start a new one."


class PolicyOverlap(Conflict):
    code = "policy_overlap"
    message = "Another policy already targets this audience in an overlapping window."


class AudienceEmpty(DomainError):
    code = "audience_empty"
    message = "The audience matches no active distributor or store."
