package domain

import "time"

// UserStatus is where a portal user stands.
type UserStatus string

const (
	StatusAdded         UserStatus = "added"          // known, no portal access
	StatusAccessGranted UserStatus = "access_granted" // may enter, not invited yet
	StatusInvited       UserStatus = "invited"        // an invitation is out
	StatusActive        UserStatus = "active"         // has an account
	StatusDeactivated   UserStatus = "deactivated"
	StatusRemoved       UserStatus = "removed"
)

// StatusOf derives a user's status from its facts; the aggregate and the
// read models share this one rule.
func StatusOf(portalAccess, hasAccount, invitationOut, deactivated, removed bool) UserStatus {
	switch {
	case removed:
		return StatusRemoved
	case deactivated:
		return StatusDeactivated
	case !portalAccess:
		return StatusAdded
	case hasAccount:
		return StatusActive
	case invitationOut:
		return StatusInvited
	}
	return StatusAccessGranted
}

// InvitationState is the life of one invitation link.
type InvitationState string

const (
	InvitationStatePending  InvitationState = "pending"
	InvitationStateAccepted InvitationState = "accepted"
	InvitationStateRevoked  InvitationState = "revoked"
	InvitationStateExpired  InvitationState = "expired" // pending, but past its expiry
)

// Invitation is the user's latest invitation.
type Invitation struct {
	ID        InvitationID
	ExpiresAt time.Time
	State     InvitationState
}

// StateAt is the invitation's state at now (a pending one past its expiry is expired).
func (i Invitation) StateAt(now time.Time) InvitationState {
	if i.State == InvitationStatePending && !now.Before(i.ExpiresAt) {
		return InvitationStateExpired
	}
	return i.State
}

// User is a portal user of one organization.
type User struct {
	ID           UserID
	OrgID        OrgID
	CompanyID    CompanyID
	RoleID       RoleID
	FirstName    string
	LastName     string
	Email        string
	Properties   map[string]any
	PortalAccess bool
	HasAccount   bool
	Deactivated  bool
	Removed      bool
	Invitation   *Invitation
	PasswordHash string
}

// Exists reports whether the user has been created.
func (u *User) Exists() bool { return u.ID != "" }

// Status is the user's current status.
func (u *User) Status() UserStatus {
	out := u.Invitation != nil && u.Invitation.State == InvitationStatePending
	return StatusOf(u.PortalAccess, u.HasAccount, out, u.Deactivated, u.Removed)
}

// Apply evolves the user by one event.
func (u *User) Apply(e Event) {
	switch e := e.(type) {
	case UserCreated:
		u.ID, u.OrgID, u.CompanyID, u.RoleID = e.UserID, e.OrgID, e.CompanyID, e.RoleID
		u.FirstName, u.LastName, u.Email = e.FirstName, e.LastName, e.Email
		u.Properties, u.PortalAccess = e.Properties, e.PortalAccess
	case InvitationSent:
		u.Invitation = &Invitation{ID: e.InvitationID, ExpiresAt: e.ExpiresAt, State: InvitationStatePending}
	case InvitationRevoked:
		if u.Invitation != nil && u.Invitation.ID == e.InvitationID {
			u.Invitation.State = InvitationStateRevoked
		}
	case InvitationAccepted:
		if u.Invitation != nil && u.Invitation.ID == e.InvitationID {
			u.Invitation.State = InvitationStateAccepted
		}
		u.HasAccount = true
	case PasswordSet:
		u.PasswordHash = e.PasswordHash
	}
}

// NewUser is the input for creating a user. Company, when set, is the
// loaded company the user belongs to.
type NewUser struct {
	ID           UserID
	OrgID        OrgID
	Company      *Company
	CompanyID    CompanyID // as given, to name it in errors when it does not exist
	FirstName    string
	LastName     string
	Email        string
	Properties   map[string]any
	PortalAccess bool
}

// Create decides the creation of a user. Email uniqueness across the
// organization is a set rule the command layer enforces in the append.
func (u *User) Create(n NewUser) ([]Event, error) {
	if u.Exists() {
		return nil, ErrUserExists
	}
	var v Validation
	first, last := cleanName(n.FirstName), cleanName(n.LastName)
	checkName(&v, "first_name", first, true)
	checkName(&v, "last_name", last, true)
	email := NormalizeEmail(n.Email)
	if email == "" {
		v.Add("email", "is required")
	} else if !validEmail(email) {
		v.Add("email", "must be an email address")
	}
	var company CompanyID
	if n.CompanyID != "" {
		if n.Company == nil || !n.Company.Exists() || n.Company.OrgID != n.OrgID {
			v.Add("company_id", "no such company")
		} else {
			company = n.Company.ID
		}
	}
	if len(n.Properties) > 100 {
		v.Add("properties", "must have at most 100 entries")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return []Event{UserCreated{UserID: n.ID, OrgID: n.OrgID, CompanyID: company, FirstName: first, LastName: last,
		Email: email, Properties: n.Properties, PortalAccess: n.PortalAccess}}, nil
}

// Invite sends a new invitation link, killing the previous one. It stays
// possible until the person has an account.
func (u *User) Invite(now time.Time, id InvitationID, tokenHash string, ttl time.Duration) ([]Event, error) {
	switch {
	case !u.Exists():
		return nil, ErrUserNotFound
	case u.Removed:
		return nil, ErrUserRemoved
	case u.Deactivated:
		return nil, ErrUserDeactivated
	case u.HasAccount:
		return nil, ErrAlreadyHasAccount
	case !u.PortalAccess:
		return nil, ErrNoPortalAccess
	case u.Email == "":
		return nil, ErrNoEmail
	}
	var events []Event
	if u.Invitation != nil && u.Invitation.State == InvitationStatePending {
		events = append(events, InvitationRevoked{InvitationID: u.Invitation.ID, Reason: "superseded"})
	}
	return append(events, InvitationSent{InvitationID: id, TokenHash: tokenHash, ExpiresAt: now.Add(ttl).UTC()}), nil
}

// AcceptInvitation turns the invitation into an account with a password.
// The caller has checked the password rules and hashed it.
func (u *User) AcceptInvitation(now time.Time, id InvitationID, passwordHash string) ([]Event, error) {
	if !u.Exists() {
		return nil, ErrInvitationNotFound
	}
	if u.Invitation == nil || u.Invitation.ID != id {
		return nil, ErrInvitationRevoked
	}
	switch u.Invitation.StateAt(now) {
	case InvitationStateAccepted:
		return nil, ErrInvitationUsed
	case InvitationStateRevoked:
		return nil, ErrInvitationRevoked
	case InvitationStateExpired:
		return nil, ErrInvitationExpired
	}
	switch {
	case u.Removed:
		return nil, ErrInvitationRevoked
	case u.Deactivated:
		return nil, ErrUserDeactivated
	case !u.PortalAccess:
		return nil, ErrNoPortalAccess
	}
	return []Event{InvitationAccepted{InvitationID: id}, PasswordSet{PasswordHash: passwordHash}}, nil
}
