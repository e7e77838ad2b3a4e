package domain

import (
	"slices"
	"time"
)

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
	Permissions  Permissions // the user's own overrides
	Erased       bool
	// Addresses are every address the user has had, the current one
	// last: erasing the user erases what names any of them.
	Addresses []string
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
		u.addAddress(e.Email)
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
	case UserSignedUp:
		u.HasAccount = true
	case PortalAccessGranted:
		u.PortalAccess = true
	case PortalAccessRevoked:
		u.PortalAccess = false
	case UserUpdated:
		u.FirstName, u.LastName, u.Properties = e.FirstName, e.LastName, e.Properties
	case UserEmailChanged:
		u.Email = e.Email
		u.addAddress(e.Email)
	case UserRoleChanged:
		u.RoleID = e.RoleID
	case UserPermissionsSet:
		u.Permissions = e.Permissions
	case UserMovedToCompany:
		u.CompanyID = e.CompanyID
	case UserDeactivated:
		u.Deactivated = true
	case UserReactivated:
		u.Deactivated = false
	case UserRemoved:
		u.Removed = true
	case UserErased:
		u.Erased, u.Removed = true, true
	}
}

// addAddress records an address the user has had. The slice is clipped
// first: an aggregate may be shared as cached, and an append into spare
// capacity would write into the copy another reader holds.
func (u *User) addAddress(email string) {
	if email == "" || slices.Contains(u.Addresses, email) {
		return
	}
	u.Addresses = append(slices.Clip(u.Addresses), email)
}

// pendingInvitation is the invitation still out, if any.
func (u *User) pendingInvitation() *Invitation {
	if u.Invitation != nil && u.Invitation.State == InvitationStatePending {
		return u.Invitation
	}
	return nil
}

// withdrawInvitation kills a pending link, for changes that make it wrong.
func (u *User) withdrawInvitation(reason string) []Event {
	if inv := u.pendingInvitation(); inv != nil {
		return []Event{InvitationRevoked{InvitationID: inv.ID, Reason: reason}}
	}
	return nil
}

func (u *User) mustBeLive() error {
	switch {
	case !u.Exists():
		return ErrUserNotFound
	case u.Erased:
		return ErrUserErased
	case u.Removed:
		return ErrUserRemoved
	}
	return nil
}

// GrantPortalAccess lets the user into the portal (an invitation or a
// password still has to follow for someone without an account).
func (u *User) GrantPortalAccess() ([]Event, error) {
	if err := u.mustBeLive(); err != nil {
		return nil, err
	}
	if u.PortalAccess {
		return nil, nil
	}
	if u.Email == "" {
		return nil, ErrNoEmail
	}
	return []Event{PortalAccessGranted{}}, nil
}

// RevokePortalAccess takes the user's access away; sessions and a pending
// invitation end with it.
func (u *User) RevokePortalAccess(reason string) ([]Event, error) {
	if err := u.mustBeLive(); err != nil {
		return nil, err
	}
	if !u.PortalAccess {
		return nil, nil
	}
	return append(u.withdrawInvitation("access_revoked"), PortalAccessRevoked{Reason: reason}), nil
}

// Deactivate ends the user's access at once; they are told (if the portal
// says so), and can be reactivated.
func (u *User) Deactivate(reason string) ([]Event, error) {
	if err := u.mustBeLive(); err != nil {
		return nil, err
	}
	if u.Deactivated {
		return nil, nil
	}
	return []Event{UserDeactivated{Reason: reason}}, nil
}

// Reactivate gives a deactivated user their previous standing back.
func (u *User) Reactivate(reason string) ([]Event, error) {
	if err := u.mustBeLive(); err != nil {
		return nil, err
	}
	if !u.Deactivated {
		return nil, nil
	}
	return []Event{UserReactivated{Reason: reason}}, nil
}

// Remove withdraws the user without telling them; their email may be used
// again. Removing a removed user changes nothing.
func (u *User) Remove(reason string) ([]Event, error) {
	if !u.Exists() {
		return nil, ErrUserNotFound
	}
	if u.Removed {
		return nil, nil
	}
	return append(u.withdrawInvitation("removed"), UserRemoved{Reason: reason}), nil
}

// ErrUserErased refuses anything on a user whose data was erased.
var ErrUserErased = newError(KindConflict, "user_erased", "the user's personal data was erased")

// Erase destroys the user's personal data on request: access ends as with
// removal, and the caller destroys the user's key in the same transaction.
// Erasing an erased user changes nothing.
func (u *User) Erase() ([]Event, error) {
	if !u.Exists() {
		return nil, ErrUserNotFound
	}
	if u.Erased {
		return nil, nil
	}
	var events []Event
	if !u.Removed {
		events = append(u.withdrawInvitation("erased"), UserRemoved{Reason: "erased on request"})
	}
	return append(events, UserErased{}), nil
}

// UserPatch edits the fields it names (nil leaves them).
type UserPatch struct {
	FirstName  *string
	LastName   *string
	Email      *string
	Properties map[string]any
	// RoleID, when set, names the new role; Role is it loaded (nil when it
	// does not exist).
	RoleID *RoleID
	Role   *Role
	// CompanyID, when set, moves the user; Company is it loaded.
	CompanyID   *CompanyID
	Company     *Company
	Permissions Permissions
}

// Update decides an edit. The user is not notified and no invitation is
// sent. Moving to another company withdraws portal access: being added to
// a company does not activate anyone.
func (u *User) Update(p UserPatch) ([]Event, error) {
	if err := u.mustBeLive(); err != nil {
		return nil, err
	}
	var v Validation
	var events []Event
	upd := UserUpdated{FirstName: u.FirstName, LastName: u.LastName, Properties: u.Properties}
	if p.FirstName != nil && cleanName(*p.FirstName) != u.FirstName {
		upd.FirstName = cleanName(*p.FirstName)
		checkName(&v, "first_name", upd.FirstName, true)
		upd.Changed = append(upd.Changed, "first_name")
	}
	if p.LastName != nil && cleanName(*p.LastName) != u.LastName {
		upd.LastName = cleanName(*p.LastName)
		checkName(&v, "last_name", upd.LastName, true)
		upd.Changed = append(upd.Changed, "last_name")
	}
	if p.Properties != nil {
		if len(p.Properties) > 100 {
			v.Add("properties", "must have at most 100 entries")
		}
		upd.Properties = p.Properties
		upd.Changed = append(upd.Changed, "properties")
	}
	if len(upd.Changed) > 0 {
		events = append(events, upd)
	}
	if p.Email != nil && NormalizeEmail(*p.Email) != u.Email {
		email := NormalizeEmail(*p.Email)
		switch {
		case email == "" && u.PortalAccess:
			v.Add("email", "is required for a user with portal access")
		case email != "" && !validEmail(email):
			v.Add("email", "must be an email address")
		}
		events = append(events, UserEmailChanged{Email: email, Previous: u.Email})
	}
	if p.RoleID != nil && *p.RoleID != u.RoleID {
		if *p.RoleID != "" && p.Role == nil {
			v.Add("role_id", "no such role")
		}
		events = append(events, UserRoleChanged{RoleID: *p.RoleID})
	}
	if p.Permissions != nil {
		checkPermissions(&v, "permissions", p.Permissions)
		if !p.Permissions.Equal(u.Permissions) {
			events = append(events, UserPermissionsSet{Permissions: p.Permissions})
		}
	}
	if p.CompanyID != nil && *p.CompanyID != u.CompanyID {
		if *p.CompanyID != "" && (p.Company == nil || !p.Company.Exists() || p.Company.OrgID != u.OrgID) {
			v.Add("company_id", "no such company")
		}
		events = append(events, UserMovedToCompany{CompanyID: *p.CompanyID, Previous: u.CompanyID})
		if u.PortalAccess {
			events = append(events, u.withdrawInvitation("moved_company")...)
			events = append(events, PortalAccessRevoked{Reason: "moved_company"})
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return events, nil
}

// RecordEmail decides the event that records an email's outcome: the
// invitation email when invitation is set, else the deactivation email.
// sendErr is empty on success.
func (u *User) RecordEmail(invitation InvitationID, to, sendErr string, attempts int) ([]Event, error) {
	if !u.Exists() {
		return nil, ErrUserNotFound
	}
	switch {
	case invitation != "" && sendErr == "":
		return []Event{InvitationEmailSent{InvitationID: invitation, To: to}}, nil
	case invitation != "":
		return []Event{InvitationEmailFailed{InvitationID: invitation, Error: sendErr, Attempts: attempts}}, nil
	case sendErr == "":
		return []Event{DeactivationEmailSent{To: to}}, nil
	}
	return []Event{DeactivationEmailFailed{Error: sendErr, Attempts: attempts}}, nil
}

// SignUp creates a user who registers themselves: an account with a
// password at once. The caller has applied the sign-up policy.
func (u *User) SignUp(n NewUser, passwordHash string) ([]Event, error) {
	n.PortalAccess = true
	events, err := u.Create(n)
	if err != nil {
		return nil, err
	}
	return append(events, UserSignedUp{}, PasswordSet{PasswordHash: passwordHash}), nil
}

// CanLogIn says whether the user's own state lets them in (the portal and
// company switches are checked by the caller).
func (u *User) CanLogIn() bool {
	return u.Exists() && u.Status() == StatusActive && u.PasswordHash != ""
}

// ChangePassword replaces the password of an account that may log in. The
// caller has checked the current password and the rules, and hashed the new
// one; every open session of the account ends with it.
func (u *User) ChangePassword(passwordHash string) ([]Event, error) {
	if !u.CanLogIn() {
		return nil, ErrLoginRefused
	}
	return []Event{PasswordSet{PasswordHash: passwordHash}}, nil
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
	// RoleID, when set, names the user's role; Role is it loaded (nil when
	// it does not exist).
	RoleID RoleID
	Role   *Role
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
	switch {
	case email == "" && n.PortalAccess:
		v.Add("email", "is required for a user with portal access")
	case email != "" && !validEmail(email):
		v.Add("email", "must be an email address")
	}
	if n.RoleID != "" && n.Role == nil {
		v.Add("role_id", "no such role")
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
	return []Event{UserCreated{UserID: n.ID, OrgID: n.OrgID, CompanyID: company, RoleID: n.RoleID, FirstName: first, LastName: last,
		Email: email, Properties: n.Properties, PortalAccess: n.PortalAccess}}, nil
}

// Invite sends a new invitation link, killing the previous one. It stays
// possible until the person has an account.
func (u *User) Invite(now time.Time, id InvitationID, tokenHash, sealedToken string, ttl time.Duration) ([]Event, error) {
	switch {
	case !u.Exists():
		return nil, ErrUserNotFound
	case u.Removed:
		return nil, ErrUserRemoved
	case u.Deactivated:
		return nil, ErrUserDeactivated
	case u.HasAccount:
		return nil, ErrAlreadyHasAccount
	case u.Email == "":
		return nil, ErrNoEmail
	case !u.PortalAccess:
		return nil, ErrNoPortalAccess
	}
	var events []Event
	if u.Invitation != nil && u.Invitation.State == InvitationStatePending {
		events = append(events, InvitationRevoked{InvitationID: u.Invitation.ID, Reason: "superseded"})
	}
	return append(events, InvitationSent{InvitationID: id, TokenHash: tokenHash, ExpiresAt: now.Add(ttl).UTC(), SealedToken: sealedToken}), nil
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
