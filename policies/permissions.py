"""Roles and permissions (closed StrEnums named scope:resource:action); fail closed."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Staff roles of a response centre."""

    EXAMINER = "examiner"
    ADVOCATE = "advocate"
    LAB = "lab"  # the centre's evidence-store staff (agency: centre) or crime-lab staff (agency: crime-lab)
    LAW_ENFORCEMENT = "law_enforcement"  # law-enforcement liaison
    AUDITOR = "auditor"
    COORDINATOR = "coordinator"  # admin


class Permission(StrEnum):
    """Every permission the API checks. A route names exactly one."""

    CASE_CREATE = "case:case:create"
    CASE_READ = "case:case:read"
    CASE_LIST = "case:case:list"
    CASE_UPDATE = "case:case:update"
    IDENTITY_WRITE = "case:identity:write"
    IDENTITY_READ = "case:identity:read"
    CASE_ASSIGN = "case:assignment:write"
    CONSENT_WRITE = "consent:decision:write"
    CONSENT_READ = "consent:decision:read"
    OVERRIDE_WRITE = "consent:override:write"
    EXAM_WRITE = "exam:exam:write"
    EXAM_READ = "exam:exam:read"  # the exam narrative: sensitive
    CARE_WRITE = "exam:care:write"
    CARE_READ = "exam:care:read"
    ITEM_CREATE = "evidence:item:create"
    ITEM_READ = "evidence:item:read"
    FILE_UPLOAD = "evidence:file:upload"
    FILE_DOWNLOAD = "evidence:file:download"  # photographs: sensitive
    LABEL_PRINT = "evidence:label:print"
    ITEM_SEAL = "custody:item:seal"
    TRANSFER_OFFER = "custody:transfer:offer"
    TRANSFER_ACCEPT = "custody:transfer:accept"
    CHECK_IN_OUT = "custody:item:check"
    ANALYSE = "custody:item:analyse"
    RELEASE = "custody:item:release"
    DESTRUCTION_PROPOSE = "evidence:destruction:propose"  # first of two people (evidence.destruction)
    DESTRUCTION_APPROVE = "evidence:destruction:approve"  # second, different person: performs the destruction
    LEGAL_HOLD = "custody:file:legal-hold"
    CUSTODY_READ = "custody:history:read"
    ADVOCACY_WRITE = "advocacy:record:write"
    ADVOCACY_READ = "advocacy:record:read"
    SAFETY_PLAN_READ = "advocacy:safety-plan:read"
    LEDGER_READ = "audit:ledger:read"
    LEDGER_VERIFY = "audit:ledger:verify"
    AUDIT_EXPORT = "audit:bundle:export"
    ACCESS_LOG_READ = "audit:access-log:read"
    ALERT_READ = "deadline:alert:read"
    USER_ADMIN = "admin:user:write"
    USER_READ = "admin:user:read"
    AGENCY_ADMIN = "admin:agency:write"
    AGENCY_READ = "admin:agency:read"
    JURISDICTION_READ = "admin:jurisdiction:read"
    BREAK_GLASS = "access:case:break-glass"
    INCIDENT_REPORT = "integrity:incident:report"  # staff handling an item report a broken seal etc.
    INCIDENT_READ = "integrity:incident:read"  # centre-wide list of incidents (the resolvers' queue)
    INCIDENT_RESOLVE = "integrity:incident:resolve"  # lifts the quarantine with a recorded finding
    COMPLIANCE_READ = "report:compliance:read"  # agency accountability: handoffs and overdue deadlines per agency
    ERASURE_PROPOSE = "case:erasure:propose"  # propose a lawful erasure (crypto-shredding) of a case's personal data
    ERASURE_APPROVE = "case:erasure:approve"  # approve another person's proposal: destroys the case key
    KEY_ADMIN = "admin:key:write"  # rotate the centre key (rewrap case keys), re-encrypt legacy values
    REVIEW_SCHEDULE = "review:meeting:schedule"  # multidisciplinary case review: the coordinator, of a case they see
    REVIEW_READ = "review:meeting:read"  # a participant's consent-filtered view (policies.review decides)
    REVIEW_RECORD = "review:decision:write"  # decisions and action items of a review (its coordinator)
    REVIEW_ACTION_UPDATE = "review:action:update"  # mark an action item done (its owner agency or the coordinator)
    REVIEW_LIST = "review:meeting:list"  # the reviews of a case (staff assigned to it, its coordinator)
    FUNDER_REPORT_READ = "report:funder:read"  # aggregate counts for funders, small cells suppressed
    PRESERVATION_EXTEND = "custody:item:preserve"  # extend an item's (or a case's) retention and file locks
    FILE_PURGE = "custody:file:purge"  # delete destroyed items' files once their Object Lock has ended
    TASKS_READ = "work:task:read"  # the signed-in person's own work queue (coc tasks): every staff role
    NOTICE_REQUEST = "case:notice:request"  # record the survivor's request for notice before destruction
    NOTICE_SEND = "notice:notice:send"  # see due notices, record them sent or failed (centre-wide)
    NOTICE_CONTACT_READ = "notice:contact:read"  # the survivor's contact for the notice: sensitive
    CONTACT_HANDLE = "case:contact:handle"  # close a status-page "please contact me" request of a case one sees


P = Permission
_ALL_AUDIT = {P.LEDGER_READ, P.LEDGER_VERIFY, P.AUDIT_EXPORT, P.ACCESS_LOG_READ, P.CUSTODY_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.EXAMINER: frozenset({
        P.CASE_CREATE, P.CASE_READ, P.CASE_LIST, P.CASE_UPDATE, P.IDENTITY_WRITE, P.IDENTITY_READ,
        P.CONSENT_WRITE, P.CONSENT_READ, P.OVERRIDE_WRITE, P.EXAM_WRITE, P.EXAM_READ, P.CARE_WRITE,
        P.CARE_READ, P.ITEM_CREATE, P.ITEM_READ, P.FILE_UPLOAD, P.FILE_DOWNLOAD, P.LABEL_PRINT,
        P.ITEM_SEAL, P.TRANSFER_OFFER, P.TRANSFER_ACCEPT, P.RELEASE, P.CUSTODY_READ, P.ALERT_READ,
        P.BREAK_GLASS, P.INCIDENT_REPORT, P.REVIEW_READ, P.REVIEW_ACTION_UPDATE, P.NOTICE_REQUEST,
        P.CONTACT_HANDLE, P.REVIEW_LIST,
    }),
    Role.ADVOCATE: frozenset({
        P.CASE_READ, P.CASE_LIST, P.CONSENT_READ, P.CONSENT_WRITE, P.EXAM_READ, P.CARE_READ,
        P.ADVOCACY_WRITE, P.ADVOCACY_READ, P.SAFETY_PLAN_READ, P.REVIEW_READ, P.REVIEW_ACTION_UPDATE,
        P.NOTICE_REQUEST, P.CONTACT_HANDLE, P.REVIEW_LIST,
    }),
    Role.LAB: frozenset({
        P.ITEM_READ, P.LABEL_PRINT, P.TRANSFER_OFFER, P.TRANSFER_ACCEPT, P.CHECK_IN_OUT, P.ANALYSE,
        P.CUSTODY_READ, P.ITEM_SEAL, P.DESTRUCTION_PROPOSE, P.DESTRUCTION_APPROVE, P.LEGAL_HOLD, P.INCIDENT_REPORT,
        P.PRESERVATION_EXTEND,
        P.ALERT_READ,  # only the deadlines of items they hold or were offered (policies.deadlines.alerts)
        P.REVIEW_READ, P.REVIEW_ACTION_UPDATE,  # reviews they take part in (policies.review)
    }),
    Role.LAW_ENFORCEMENT: frozenset({
        P.ITEM_READ, P.TRANSFER_OFFER, P.TRANSFER_ACCEPT, P.CHECK_IN_OUT, P.CUSTODY_READ, P.INCIDENT_REPORT,
        P.ALERT_READ,  # only the deadlines of items they hold or were offered (policies.deadlines.alerts)
        P.FILE_DOWNLOAD,  # only files of items released to them, still consented (evidence.files.open_file)
        P.REVIEW_READ, P.REVIEW_ACTION_UPDATE,  # reviews they take part in (policies.review)
    }),
    Role.AUDITOR: frozenset(_ALL_AUDIT | {P.ITEM_READ, P.ALERT_READ, P.USER_READ, P.INCIDENT_READ,
                                          P.INCIDENT_RESOLVE, P.AGENCY_READ, P.COMPLIANCE_READ,
                                          P.FUNDER_REPORT_READ}),
    Role.COORDINATOR: frozenset({
        P.CASE_LIST, P.CASE_ASSIGN, P.USER_ADMIN, P.USER_READ, P.ALERT_READ, P.JURISDICTION_READ,
        P.LEGAL_HOLD, P.INCIDENT_READ, P.INCIDENT_RESOLVE, P.AGENCY_ADMIN, P.AGENCY_READ,
        P.COMPLIANCE_READ, P.ERASURE_PROPOSE, P.ERASURE_APPROVE, P.KEY_ADMIN,
        P.REVIEW_SCHEDULE, P.REVIEW_READ, P.REVIEW_RECORD, P.REVIEW_ACTION_UPDATE, P.FUNDER_REPORT_READ,
        P.PRESERVATION_EXTEND, P.FILE_PURGE, P.DESTRUCTION_APPROVE, P.NOTICE_SEND, P.NOTICE_CONTACT_READ,
        P.CONTACT_HANDLE, P.REVIEW_LIST,
    }),
}
# Every staff member has a work queue (only their own assigned cases and offers: policies/evidence decide).
ROLE_PERMISSIONS = {role: perms | {P.TASKS_READ} for role, perms in ROLE_PERMISSIONS.items()}

# Permissions that are granted for a case only when the user is assigned to it (or breaks glass).
# Auditors and coordinators read across cases by role; lab and law enforcement act on items they hold
# or that were released to them (checked in the service, not here).
CASE_SCOPED: frozenset[Permission] = frozenset({
    P.CASE_READ, P.CASE_UPDATE, P.IDENTITY_WRITE, P.IDENTITY_READ, P.CONSENT_WRITE, P.CONSENT_READ,
    P.OVERRIDE_WRITE, P.EXAM_WRITE, P.EXAM_READ, P.CARE_WRITE, P.CARE_READ, P.ITEM_CREATE,
    P.FILE_UPLOAD, P.FILE_DOWNLOAD, P.ADVOCACY_WRITE, P.ADVOCACY_READ, P.SAFETY_PLAN_READ, P.RELEASE,
    P.REVIEW_SCHEDULE,  # a coordinator schedules a review only of a case they are assigned to (or broke glass for)
    P.NOTICE_REQUEST,
    P.REVIEW_LIST,  # the reviews of a case: its assigned examiners, advocates and coordinators
})

# Case-scoped permissions that some roles get by what was handed to them instead of by case assignment: the
# service decides from custody (law enforcement downloads only files of items released to them, and only while
# the release (and photography) consent holds: evidence.files.open_file).
PARTY_SCOPED: dict[Permission, frozenset[Role]] = {
    P.FILE_DOWNLOAD: frozenset({Role.LAW_ENFORCEMENT}),
}

# Permissions that are case-scoped for some roles only (checked in the service, which knows the item's case):
# examiners and advocates see the items of their own cases; lab and evidence staff and auditors see items by
# role, law enforcement only items released or offered to them (evidence.custody.require_item_visible).
CASE_SCOPED_FOR: dict[Permission, frozenset[Role]] = {
    P.ITEM_READ: frozenset({Role.EXAMINER, Role.ADVOCATE}),
    P.CUSTODY_READ: frozenset({Role.EXAMINER, Role.ADVOCATE}),
}

# Reads of survivor-sensitive data: always written to the access log.
SENSITIVE: frozenset[Permission] = frozenset({P.IDENTITY_READ, P.EXAM_READ, P.CARE_READ, P.FILE_DOWNLOAD,
                                               P.SAFETY_PLAN_READ, P.NOTICE_CONTACT_READ})


def role_allows(role: str, permission: Permission) -> bool:
    """True only when `role` is a known role whose set contains `permission` (unknown → deny)."""
    try:
        return permission in ROLE_PERMISSIONS.get(Role(role), frozenset())
    except ValueError:
        return False
