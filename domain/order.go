package domain

import "strings"

// Order is a helpdesk order confirmation, recorded once per order id.
type Order struct {
	OrderID string
}

// Exists reports whether the order has been recorded.
func (o *Order) Exists() bool { return o.OrderID != "" }

// Apply evolves the order by one event.
func (o *Order) Apply(e Event) {
	if e, ok := e.(OrderConfirmed); ok {
		o.OrderID = e.OrderID
	}
}

// NewOrder is an order confirmation from the helpdesk; Company is the
// loaded company.
type NewOrder struct {
	OrgID     OrgID
	OrderID   string
	CompanyID CompanyID
	Company   *Company
	FirstName string
	LastName  string
	Email     string
}

// Record decides the recording of an order; a repeat records nothing.
func (o *Order) Record(n NewOrder) ([]Event, error) {
	var v Validation
	id := strings.TrimSpace(n.OrderID)
	if id == "" || len(id) > 200 {
		v.Add("order_id", "is required (at most 200 characters)")
	}
	if n.Company == nil || !n.Company.Exists() || n.Company.OrgID != n.OrgID {
		v.Add("company_id", "no such company")
	}
	first, last := cleanName(n.FirstName), cleanName(n.LastName)
	checkName(&v, "contact.first_name", first, true)
	checkName(&v, "contact.last_name", last, true)
	email := NormalizeEmail(n.Email)
	if !validEmail(email) {
		v.Add("contact.email", "must be an email address")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if o.Exists() {
		return nil, nil
	}
	return []Event{OrderConfirmed{OrderID: id, CompanyID: n.CompanyID, FirstName: first, LastName: last, Email: email}}, nil
}
