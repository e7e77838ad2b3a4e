package domain

// ActorKind says who made a decision.
type ActorKind string

const (
	ActorStaff      ActorKind = "staff"       // an operator's API token
	ActorPortalUser ActorKind = "portal_user" // a customer acting in the portal
	ActorSystem     ActorKind = "system"      // a saga or the command line
)

// Actor is who made a decision; Name is readable (token name, user email, saga).
type Actor struct {
	Kind ActorKind
	ID   string
	Name string
	// Role is the staff role of a staff actor.
	Role StaffRole
}

// Trigger says why a decision was made.
type Trigger string

const (
	TriggerManual      Trigger = "manual"       // staff through the API
	TriggerSelfService Trigger = "self_service" // a customer with manage_users
	TriggerAutoTicket  Trigger = "auto_ticket"  // a ticket from a new contact
	TriggerOrder       Trigger = "order"        // an order confirmation
	TriggerSignup      Trigger = "signup"       // self sign-up
	TriggerPortal      Trigger = "portal"       // a portal user acting for themselves (accepting, logging in)
	TriggerBootstrap   Trigger = "bootstrap"    // the command line setting up an organization
)

// StaffRole is what a staff API token may do.
type StaffRole string

const (
	StaffAdmin StaffRole = "admin" // everything
	StaffAgent StaffRole = "agent" // everything but portal settings, roles and tokens
)

// Valid reports whether r is a known role.
func (r StaffRole) Valid() bool { return r == StaffAdmin || r == StaffAgent }
