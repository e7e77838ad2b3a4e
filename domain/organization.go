package domain

// DefaultInvitationTTLHours is how long an invitation link lives unless the
// portal settings say otherwise.
const DefaultInvitationTTLHours = 24

// PortalSettings is how the operator set up the customer portal.
type PortalSettings struct {
	InvitationTTLHours int
}

// StaffToken is an operator API token (its hash only).
type StaffToken struct {
	ID   TokenID
	Name string
	Role StaffRole
}

// Organization is a helpdesk operator: its portal and its staff tokens.
type Organization struct {
	ID            OrgID
	Name          string
	Slug          string
	PortalEnabled bool
	Settings      PortalSettings
	Tokens        map[TokenID]StaffToken
}

// Exists reports whether the organization has been created.
func (o *Organization) Exists() bool { return o.ID != "" }

// Apply evolves the organization by one event.
func (o *Organization) Apply(e Event) {
	switch e := e.(type) {
	case OrganizationCreated:
		o.ID, o.Name, o.Slug = e.OrgID, e.Name, e.Slug
		o.Settings = PortalSettings{InvitationTTLHours: DefaultInvitationTTLHours}
		o.Tokens = map[TokenID]StaffToken{}
	case StaffTokenIssued:
		o.Tokens[e.TokenID] = StaffToken{ID: e.TokenID, Name: e.Name, Role: e.Role}
	case PortalEnabled:
		o.PortalEnabled = true
	case PortalDisabled:
		o.PortalEnabled = false
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

// CreateOrganization decides the creation of an organization.
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
