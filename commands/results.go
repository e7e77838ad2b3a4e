package commands

import (
	"time"

	"gatehouse/domain"
)

// InvitationResult describes an invitation. Token is the secret of the
// link; it exists only in the answer to the command that created it and is
// never stored (not even with the idempotent answer).
type InvitationResult struct {
	ID        domain.InvitationID    `json:"id"`
	State     domain.InvitationState `json:"state"`
	ExpiresAt time.Time              `json:"expires_at"`
	Token     string                 `json:"-"`
}

// UserResult is a user as a command leaves it (no secrets).
type UserResult struct {
	ID           domain.UserID      `json:"id"`
	OrgID        domain.OrgID       `json:"org_id"`
	CompanyID    domain.CompanyID   `json:"company_id"`
	RoleID       domain.RoleID      `json:"role_id"`
	FirstName    string             `json:"first_name"`
	LastName     string             `json:"last_name"`
	Email        string             `json:"email"`
	Properties   map[string]any     `json:"properties"`
	Permissions  domain.Permissions `json:"permissions"`
	Status       domain.UserStatus  `json:"status"`
	PortalAccess bool               `json:"portal_access"`
	Invitation   *InvitationResult  `json:"invitation"`
	Version      int                `json:"version"`
	CreatedAt    time.Time          `json:"created_at"`
	UpdatedAt    time.Time          `json:"updated_at"`
}

func userResult(u *domain.User, info streamInfo, now time.Time) UserResult {
	r := UserResult{
		ID: u.ID, OrgID: u.OrgID, CompanyID: u.CompanyID, RoleID: u.RoleID,
		FirstName: u.FirstName, LastName: u.LastName, Email: u.Email, Properties: u.Properties, Permissions: u.Permissions,
		Status: u.Status(), PortalAccess: u.PortalAccess, Version: info.Version,
		CreatedAt: info.CreatedAt, UpdatedAt: info.UpdatedAt,
	}
	if u.Invitation != nil {
		r.Invitation = &InvitationResult{ID: u.Invitation.ID, State: u.Invitation.StateAt(now), ExpiresAt: u.Invitation.ExpiresAt}
	}
	return r
}

// CompanyResult is a company as a command leaves it.
type CompanyResult struct {
	ID           domain.CompanyID   `json:"id"`
	OrgID        domain.OrgID       `json:"org_id"`
	Name         string             `json:"name"`
	ParentID     domain.CompanyID   `json:"parent_id"`
	Manager      string             `json:"manager"`
	Location     string             `json:"location"`
	Properties   map[string]any     `json:"properties"`
	PortalActive bool               `json:"portal_active"`
	Permissions  domain.Permissions `json:"permissions"`
	Version      int                `json:"version"`
	CreatedAt    time.Time          `json:"created_at"`
	UpdatedAt    time.Time          `json:"updated_at"`
}

func companyResult(c *domain.Company, info streamInfo) CompanyResult {
	return CompanyResult{
		ID: c.ID, OrgID: c.OrgID, Name: c.Name, ParentID: c.ParentID, Manager: c.Manager, Location: c.Location,
		Properties: c.Properties, PortalActive: c.PortalActive, Permissions: c.Permissions, Version: info.Version,
		CreatedAt: info.CreatedAt, UpdatedAt: info.UpdatedAt,
	}
}

// PortalResult is the organization's portal switch and settings.
type PortalResult struct {
	OrgID    domain.OrgID          `json:"org_id"`
	Name     string                `json:"name"`
	Slug     string                `json:"slug"`
	Enabled  bool                  `json:"enabled"`
	Settings domain.PortalSettings `json:"settings"`
	Version  int                   `json:"version"`
}

func portalResult(o *domain.Organization, info streamInfo) PortalResult {
	return PortalResult{OrgID: o.ID, Name: o.Name, Slug: o.Slug, Enabled: o.PortalEnabled, Settings: o.Settings, Version: info.Version}
}

// RoleResult is a role.
type RoleResult struct {
	ID          domain.RoleID      `json:"id"`
	Name        string             `json:"name"`
	Permissions domain.Permissions `json:"permissions"`
	Version     int                `json:"version"`
}
