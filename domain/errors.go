package domain

import (
	"fmt"
	"strings"
	"time"
)

// ErrorKind says what kind of refusal an error is; adapters map kinds to
// their own codes (HTTP status) in one place.
type ErrorKind int

const (
	KindInvalid            ErrorKind = iota + 1 // the input breaks a rule (422)
	KindConflict                                // the current state forbids it (409)
	KindNotFound                                // nothing by that id here (404)
	KindForbidden                               // not allowed for this caller (403)
	KindGone                                    // it existed but is no longer usable (410)
	KindUnauthenticated                         // no valid credentials (401)
	KindPreconditionFailed                      // the caller's expected version is stale (412)
	KindTooManyRequests                         // slow down; RetryAfter says how long (429)
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a refusal by a business rule. Code is a stable machine-readable
// name; Message is for people.
type Error struct {
	Kind    ErrorKind
	Code    string
	Message string
	Fields  []FieldError
	// RetryAfter is set on KindTooManyRequests.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return fmt.Sprintf("%s (%s)", e.Message, strings.Join(parts, "; "))
}

// Is makes errors.Is match on the code, so a sentinel matches a copy that
// carries more detail.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func newError(kind ErrorKind, code, msg string) *Error {
	return &Error{Kind: kind, Code: code, Message: msg}
}

// Validation collects field errors; Err returns nil when there are none.
type Validation struct{ fields []FieldError }

func (v *Validation) Add(field, msg string) { v.fields = append(v.fields, FieldError{field, msg}) }

func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Code: "validation_failed", Message: "the request has invalid fields", Fields: v.fields}
}

// ErrValidation matches every validation error.
var ErrValidation = newError(KindInvalid, "validation_failed", "the request has invalid fields")

var (
	ErrOrganizationNotFound = newError(KindNotFound, "organization_not_found", "no such organization")
	ErrOrganizationExists   = newError(KindConflict, "organization_exists", "the organization exists already")
	ErrSlugTaken            = newError(KindConflict, "slug_taken", "another organization uses this slug")
	ErrPortalDisabled       = newError(KindForbidden, "portal_disabled", "the customer portal is disabled")
	ErrTokenNotFound        = newError(KindNotFound, "token_not_found", "no such token")
	ErrRoleNotFound         = newError(KindNotFound, "role_not_found", "no such role")
	ErrRoleNameTaken        = newError(KindConflict, "role_name_taken", "another role has this name")
	ErrSignupClosed         = newError(KindForbidden, "signup_refused", "the portal does not accept sign-ups from this address")
	ErrInvalidCredentials   = newError(KindUnauthenticated, "invalid_credentials", "wrong email or password")
	ErrLoginRefused         = newError(KindForbidden, "login_refused", "this account may not log in to the portal (deactivated, removed or without portal access)")
	ErrTooManyAttempts      = newError(KindTooManyRequests, "too_many_attempts", "too many failed logins for this address; wait before trying again")

	ErrCompanyNotFound       = newError(KindNotFound, "company_not_found", "no such company")
	ErrCompanyExists         = newError(KindConflict, "company_exists", "the company exists already")
	ErrCompanyPortalInactive = newError(KindForbidden, "company_portal_inactive", "the company's portal is not active")

	ErrUserNotFound       = newError(KindNotFound, "user_not_found", "no such user")
	ErrUserExists         = newError(KindConflict, "user_exists", "the user exists already")
	ErrEmailTaken         = newError(KindConflict, "email_taken", "another user of this organization has this email address")
	ErrUserRemoved        = newError(KindConflict, "user_removed", "the user has been removed")
	ErrUserDeactivated    = newError(KindConflict, "user_deactivated", "the user is deactivated")
	ErrNoPortalAccess     = newError(KindConflict, "no_portal_access", "the user has no portal access; grant it first")
	ErrAlreadyHasAccount  = newError(KindConflict, "already_has_account", "the user has an account already; invitations are for people without one")
	ErrNoEmail            = newError(KindInvalid, "email_required", "the user has no email address to invite")
	ErrVersionMismatch    = newError(KindPreconditionFailed, "version_mismatch", "the resource has changed since the version given in If-Match")
	ErrInvitationNotFound = newError(KindNotFound, "invitation_not_found", "no such invitation")
	ErrInvitationExpired  = newError(KindGone, "invitation_expired", "the invitation has expired; ask for a new link")
	ErrInvitationUsed     = newError(KindGone, "invitation_used", "the invitation has been used already")
	ErrInvitationRevoked  = newError(KindGone, "invitation_revoked", "the invitation was replaced by a newer one or withdrawn")
)
