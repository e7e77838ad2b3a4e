package domain

// DefaultInvitationTTLHours is how long an invitation link lives unless the
// portal settings say otherwise.
const DefaultInvitationTTLHours = 24

// StaffToken is an operator API token (its hash only).
type StaffToken struct {
	ID      TokenID
	Name    string
	Role    StaffRole
	Revoked bool
}

// Role is an operator-defined set of portal permissions.
type Role struct {
	ID          RoleID
	Name        string
	Permissions Permissions
}

// Organization is a helpdesk operator: its portal, settings, roles and
// staff tokens (one stream).
type Organization struct {
	ID            OrgID
	Name          string
	Slug          string
	PortalEnabled bool
	Settings      PortalSettings
	Tokens        map[TokenID]StaffToken
	Roles         map[RoleID]Role
}

// Exists reports whether the organization has been created.
func (o *Organization) Exists() bool { return o.ID != "" }

// Apply evolves the organization by one event.
func (o *Organization) Apply(e Event) {
	switch e := e.(type) {
	case OrganizationCreated:
		o.ID, o.Name, o.Slug = e.OrgID, e.Name, e.Slug
		o.Settings = DefaultSettings()
		o.Tokens = map[TokenID]StaffToken{}
		o.Roles = map[RoleID]Role{}
	case StaffTokenIssued:
		o.Tokens[e.TokenID] = StaffToken{ID: e.TokenID, Name: e.Name, Role: e.Role}
	case StaffTokenRevoked:
		if t, ok := o.Tokens[e.TokenID]; ok {
			t.Revoked = true
			o.Tokens[e.TokenID] = t
		}
	case PortalEnabled:
		o.PortalEnabled = true
	case PortalDisabled:
		o.PortalEnabled = false
	case PortalSettingsChanged:
		o.Settings = e.Settings
	case RoleCreated:
		o.Roles[e.RoleID] = Role{ID: e.RoleID, Name: e.Name, Permissions: e.Permissions}
	case RoleChanged:
		o.Roles[e.RoleID] = Role{ID: e.RoleID, Name: e.Name, Permissions: e.Permissions}
	}
}

// NewOrganization is the input for creating an organization with its first
// admin token.
type NewOrganization struct {
	ID             OrgID
	Name           string
	Slug           string // derived from the name when empty
	AdminEmail     string
	AdminTokenID   TokenID
	AdminTokenHash string
}

// Create decides the creation of an organization.
func (o *Organization) Create(n NewOrganization) ([]Event, error) {
	if o.Exists() {
		return nil, ErrOrganizationExists
	}
	var v Validation
	name := cleanName(n.Name)
	checkName(&v, "name", name, true)
	slug := n.Slug
	if slug == "" {
		slug = Slugify(name)
	}
	if !slugPattern.MatchString(slug) {
		v.Add("slug", "must be 1 to 63 lower-case letters, digits or dashes, starting and ending with a letter or digit")
	}
	email := NormalizeEmail(n.AdminEmail)
	if !validEmail(email) {
		v.Add("admin_email", "must be an email address")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return []Event{
		OrganizationCreated{OrgID: n.ID, Name: name, Slug: slug, AdminEmail: email},
		StaffTokenIssued{TokenID: n.AdminTokenID, Name: "admin " + email, Role: StaffAdmin, TokenHash: n.AdminTokenHash},
	}, nil
}

// EnablePortal opens the customer portal; enabling an enabled portal changes nothing.
func (o *Organization) EnablePortal() ([]Event, error) {
	if !o.Exists() {
		return nil, ErrOrganizationNotFound
	}
	if o.PortalEnabled {
		return nil, nil
	}
	return []Event{PortalEnabled{}}, nil
}

// DisablePortal locks every portal user out without losing any state.
func (o *Organization) DisablePortal() ([]Event, error) {
	if !o.Exists() {
		return nil, ErrOrganizationNotFound
	}
	if !o.PortalEnabled {
		return nil, nil
	}
	return []Event{PortalDisabled{}}, nil
}

// IssueToken decides a new staff API token.
func (o *Organization) IssueToken(id TokenID, name string, role StaffRole, hash string) ([]Event, error) {
	if !o.Exists() {
		return nil, ErrOrganizationNotFound
	}
	var v Validation
	name = cleanName(name)
	checkName(&v, "name", name, true)
	if !role.Valid() {
		v.Add("role", "must be admin or agent")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return []Event{StaffTokenIssued{TokenID: id, Name: name, Role: role, TokenHash: hash}}, nil
}

// RevokeToken ends a staff API token; revoking a revoked token changes nothing.
func (o *Organization) RevokeToken(id TokenID) ([]Event, error) {
	t, ok := o.Tokens[id]
	if !ok {
		return nil, ErrTokenNotFound
	}
	if t.Revoked {
		return nil, nil
	}
	return []Event{StaffTokenRevoked{TokenID: id}}, nil
}

func (o *Organization) roleNameTaken(name string, except RoleID) bool {
	for _, r := range o.Roles {
		if r.ID != except && r.Name == name {
			return true
		}
	}
	return false
}

// CreateRole decides a new role.
func (o *Organization) CreateRole(id RoleID, name string, perms Permissions) ([]Event, error) {
	if !o.Exists() {
		return nil, ErrOrganizationNotFound
	}
	var v Validation
	name = cleanName(name)
	checkName(&v, "name", name, true)
	checkPermissions(&v, "permissions", perms)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if o.roleNameTaken(name, "") {
		return nil, ErrRoleNameTaken
	}
	if perms == nil {
		perms = Permissions{}
	}
	return []Event{RoleCreated{RoleID: id, Name: name, Permissions: perms}}, nil
}

// ChangeRole renames a role or replaces its permissions (nil leaves them).
func (o *Organization) ChangeRole(id RoleID, name *string, perms Permissions) ([]Event, error) {
	r, ok := o.Roles[id]
	if !ok {
		return nil, ErrRoleNotFound
	}
	var v Validation
	next := r
	if name != nil {
		next.Name = cleanName(*name)
		checkName(&v, "name", next.Name, true)
	}
	if perms != nil {
		checkPermissions(&v, "permissions", perms)
		next.Permissions = perms
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if o.roleNameTaken(next.Name, id) {
		return nil, ErrRoleNameTaken
	}
	if next.Name == r.Name && next.Permissions.Equal(r.Permissions) {
		return nil, nil
	}
	return []Event{RoleChanged{RoleID: id, Name: next.Name, Permissions: next.Permissions}}, nil
}

// Equal reports whether two permission maps name the same permissions
// with the same answers.
func (p Permissions) Equal(q Permissions) bool {
	if len(p) != len(q) {
		return false
	}
	for k, v := range p {
		if w, ok := q[k]; !ok || w != v {
			return false
		}
	}
	return true
}
