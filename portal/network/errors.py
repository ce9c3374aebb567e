from portal.core.errors import Conflict, DomainError, ValidationFailed


class OrgCodeTaken(Conflict):
    code = "org_code_taken"
    message = "That organization code is already in use."


class InvalidChannel(ValidationFailed):
    code = "invalid_channel"
    message = "That supplier cannot sell to this organization in this brand."


class RoleNotAllowed(ValidationFailed):
    code = "role_not_allowed"
    message = "That role does not exist for this kind of organization."


class OrgSuspended(DomainError):
    code = "org_suspended"
    status = 403
    message = "This organization is suspended."


class InvitationInvalid(DomainError):
    code = "invitation_invalid"
    status = 400
    message = "This invitation link is not valid."


class InvitationExpired(InvitationInvalid):
    code = "invitation_expired"
    message = "This invitation has expired. Ask for a new one."


class InvitationUsed(InvitationInvalid):
    code = "invitation_used"
    message = "This invitation has already been used."


class AlreadyMember(Conflict):
    code = "already_member"
    message = "That person is already a member of this organization."
