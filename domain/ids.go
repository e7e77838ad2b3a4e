package domain

import "github.com/google/uuid"

// Identifiers are distinct types so that one cannot be passed for another.
type (
	OrgID        string
	CompanyID    string
	UserID       string
	RoleID       string
	InvitationID string
	TokenID      string
)

// Stream names: one stream per organization, company and user.
func (id OrgID) Stream() string     { return "org-" + string(id) }
func (id CompanyID) Stream() string { return "company-" + string(id) }
func (id UserID) Stream() string    { return "user-" + string(id) }

// ValidID reports whether s is a UUID in canonical form, the only form ids take.
func ValidID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}
