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
