package domain

// Company is a customer company (team) of an organization.
type Company struct {
	ID           CompanyID
	OrgID        OrgID
	Name         string
	ParentID     CompanyID
	Manager      string
	Location     string
	Properties   map[string]any
	PortalActive bool
	Permissions  Permissions
}

// Exists reports whether the company has been created.
func (c *Company) Exists() bool { return c.ID != "" }

// Apply evolves the company by one event.
func (c *Company) Apply(e Event) {
	switch e := e.(type) {
	case CompanyCreated:
		c.ID, c.OrgID, c.Name, c.ParentID = e.CompanyID, e.OrgID, e.Name, e.ParentID
		c.Manager, c.Location, c.Properties = e.Manager, e.Location, e.Properties
	case CompanyPortalActivated:
		c.PortalActive = true
	case CompanyPortalDeactivated:
		c.PortalActive = false
	case CompanyUpdated:
		c.Name, c.ParentID, c.Manager, c.Location, c.Properties = e.Name, e.ParentID, e.Manager, e.Location, e.Properties
	case CompanyPermissionsSet:
		c.Permissions = e.Permissions
	}
}

// NewCompany is the input for creating a company. Parent, when set, must be
// an existing company of the same organization (the caller loads it).
type NewCompany struct {
	ID         CompanyID
	OrgID      OrgID
	Name       string
	Parent     *Company
	Manager    string
	Location   string
	Properties map[string]any
}

// Create decides the creation of a company.
func (c *Company) Create(n NewCompany) ([]Event, error) {
	if c.Exists() {
		return nil, ErrCompanyExists
	}
	var v Validation
	name := cleanName(n.Name)
	checkName(&v, "name", name, true)
	manager, location := cleanName(n.Manager), cleanName(n.Location)
	checkName(&v, "manager", manager, false)
	checkName(&v, "location", location, false)
	var parent CompanyID
	if n.Parent != nil {
		if !n.Parent.Exists() || n.Parent.OrgID != n.OrgID {
			v.Add("parent_id", "no such company")
		}
		parent = n.Parent.ID
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return []Event{CompanyCreated{CompanyID: n.ID, OrgID: n.OrgID, Name: name, ParentID: parent,
		Manager: manager, Location: location, Properties: n.Properties}}, nil
}

// ActivatePortal lets the company's users enter the portal.
func (c *Company) ActivatePortal() ([]Event, error) {
	if !c.Exists() {
		return nil, ErrCompanyNotFound
	}
	if c.PortalActive {
		return nil, nil
	}
	return []Event{CompanyPortalActivated{}}, nil
}

// DeactivatePortal keeps the company's users out of the portal; nothing is lost.
func (c *Company) DeactivatePortal() ([]Event, error) {
	if !c.Exists() {
		return nil, ErrCompanyNotFound
	}
	if !c.PortalActive {
		return nil, nil
	}
	return []Event{CompanyPortalDeactivated{}}, nil
}

// CompanyPatch changes the fields it names (nil fields stay). Parent, when
// ParentID is set to a non-empty id, is that company loaded with its
// ancestors (Parent first, root last) so the decision can refuse cycles.
type CompanyPatch struct {
	Name       *string
	ParentID   *CompanyID
	Ancestors  []*Company
	Manager    *string
	Location   *string
	Properties map[string]any // nil leaves them; an empty map clears them
}

// Update decides an edit of the company's fields.
func (c *Company) Update(p CompanyPatch) ([]Event, error) {
	if !c.Exists() {
		return nil, ErrCompanyNotFound
	}
	e := CompanyUpdated{Name: c.Name, ParentID: c.ParentID, Manager: c.Manager, Location: c.Location, Properties: c.Properties}
	var v Validation
	if p.Name != nil && cleanName(*p.Name) != c.Name {
		e.Name = cleanName(*p.Name)
		checkName(&v, "name", e.Name, true)
		e.Changed = append(e.Changed, "name")
	}
	if p.ParentID != nil && *p.ParentID != c.ParentID {
		e.ParentID = *p.ParentID
		if e.ParentID != "" {
			if len(p.Ancestors) == 0 || !p.Ancestors[0].Exists() || p.Ancestors[0].OrgID != c.OrgID || p.Ancestors[0].ID != e.ParentID {
				v.Add("parent_id", "no such company")
			}
			for _, a := range p.Ancestors {
				if a.ID == c.ID {
					v.Add("parent_id", "would make the company its own ancestor")
					break
				}
			}
		}
		e.Changed = append(e.Changed, "parent_id")
	}
	if p.Manager != nil && cleanName(*p.Manager) != c.Manager {
		e.Manager = cleanName(*p.Manager)
		checkName(&v, "manager", e.Manager, false)
		e.Changed = append(e.Changed, "manager")
	}
	if p.Location != nil && cleanName(*p.Location) != c.Location {
		e.Location = cleanName(*p.Location)
		checkName(&v, "location", e.Location, false)
		e.Changed = append(e.Changed, "location")
	}
	if p.Properties != nil {
		if len(p.Properties) > 100 {
			v.Add("properties", "must have at most 100 entries")
		}
		e.Properties = p.Properties
		e.Changed = append(e.Changed, "properties")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if len(e.Changed) == 0 {
		return nil, nil
	}
	return []Event{e}, nil
}

// SetPermissions replaces the company-level permission overrides.
func (c *Company) SetPermissions(perms Permissions) ([]Event, error) {
	if !c.Exists() {
		return nil, ErrCompanyNotFound
	}
	var v Validation
	checkPermissions(&v, "permissions", perms)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if perms.Equal(c.Permissions) {
		return nil, nil
	}
	return []Event{CompanyPermissionsSet{Permissions: perms}}, nil
}
