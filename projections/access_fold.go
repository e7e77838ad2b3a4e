package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Fold rebuilds the access intervals in memory with the same rule as
// Apply (recompute), then writes the state and the intervals with COPY.
func (*Access) Fold() Fold {
	return &accessFold{orgs: map[string]*foldOrg{}, companies: map[string]*foldCompany{}, users: map[string]*foldUser{},
		eff: make(domain.Permissions, len(domain.AllPermissions)), sets: map[uint16]domain.Permissions{}}
}

type foldOrg struct {
	enabled bool
	roles   map[string]domain.Permissions
	users   map[string]bool
}

type foldCompany struct {
	org    string
	active bool
	perms  domain.Permissions
	users  map[string]bool
}

type foldUser struct {
	id, org string
	st      accessUser
	status  domain.UserStatus
	open    *foldInterval
}

type foldInterval struct {
	org, user string
	from      time.Time
	to        *time.Time
	perms     domain.Permissions
}

type accessFold struct {
	orgs      map[string]*foldOrg
	companies map[string]*foldCompany
	users     map[string]*foldUser
	order     []*foldUser
	intervals []*foldInterval
	// eff is recompute's scratch: most recomputations change nothing, so
	// an interval gets a set of its own only when it opens.
	eff domain.Permissions
	// sets are the permission sets intervals opened with, one map per
	// distinct set, shared and never written: a log has hundreds of
	// thousands of intervals and a handful of sets.
	sets map[uint16]domain.Permissions
}

// interned gives the shared set equal to eff.
func (f *accessFold) interned(eff domain.Permissions) domain.Permissions {
	if len(domain.AllPermissions) > 16 || len(eff) != len(domain.AllPermissions) {
		return maps.Clone(eff) // not one bit per known permission: no key
	}
	var key uint16
	for i, p := range domain.AllPermissions {
		allowed, ok := eff[p]
		if !ok {
			return maps.Clone(eff)
		}
		if allowed {
			key |= 1 << i
		}
	}
	if set, ok := f.sets[key]; ok {
		return set
	}
	set := maps.Clone(eff)
	f.sets[key] = set
	return set
}

func (f *accessFold) Add(e eventstore.RecordedEvent, ev domain.Event) error {
	at := e.RecordedAt
	switch {
	case strings.HasPrefix(e.StreamID, "org-"):
		o := f.orgs[e.OrgID]
		if o == nil {
			o = &foldOrg{roles: map[string]domain.Permissions{}, users: map[string]bool{}}
			f.orgs[e.OrgID] = o
		}
		switch ev := ev.(type) {
		case domain.PortalEnabled:
			o.enabled = true
			f.recomputeSet(o.users, at)
		case domain.PortalDisabled:
			o.enabled = false
			f.recomputeSet(o.users, at)
		case domain.RoleCreated:
			o.roles[string(ev.RoleID)] = ev.Permissions
			f.recomputeRole(o, string(ev.RoleID), at)
		case domain.RoleChanged:
			o.roles[string(ev.RoleID)] = ev.Permissions
			f.recomputeRole(o, string(ev.RoleID), at)
		}
	case strings.HasPrefix(e.StreamID, "company-"):
		id := strings.TrimPrefix(e.StreamID, "company-")
		c := f.companies[id]
		if c == nil {
			c = &foldCompany{org: e.OrgID, users: map[string]bool{}}
			f.companies[id] = c
		}
		switch ev := ev.(type) {
		case domain.CompanyPortalActivated:
			c.active = true
			f.recomputeSet(c.users, at)
		case domain.CompanyPortalDeactivated:
			c.active = false
			f.recomputeSet(c.users, at)
		case domain.CompanyPermissionsSet:
			c.perms = ev.Permissions
			f.recomputeSet(c.users, at)
		}
	case strings.HasPrefix(e.StreamID, "user-"):
		id := strings.TrimPrefix(e.StreamID, "user-")
		u := f.users[id]
		if c, ok := ev.(domain.UserCreated); ok {
			if u != nil {
				return nil
			}
			u = &foldUser{id: id, org: e.OrgID, st: accessUser{company: string(c.CompanyID), role: string(c.RoleID), access: c.PortalAccess, perms: domain.Permissions{}}}
			f.users[id] = u
			f.order = append(f.order, u)
			f.link(u)
		} else {
			if u == nil {
				return fmt.Errorf("user %s: %s before UserCreated", id, e.Type)
			}
			if u.st.version >= e.StreamVersion {
				return nil
			}
			f.unlink(u)
			evolveAccessUser(&u.st, ev)
			f.link(u)
		}
		u.st.version = e.StreamVersion
		u.status = domain.StatusOf(u.st.access, u.st.account, u.st.invitedState, u.st.deactivated, u.st.removed)
		f.recompute(u, at)
	}
	return nil
}

func (f *accessFold) link(u *foldUser) {
	if o := f.orgs[u.org]; o != nil {
		o.users[u.id] = true
	}
	if c := f.companies[u.st.company]; c != nil {
		c.users[u.id] = true
	}
}

func (f *accessFold) unlink(u *foldUser) {
	if c := f.companies[u.st.company]; c != nil {
		delete(c.users, u.id)
	}
}

func (f *accessFold) recomputeSet(ids map[string]bool, at time.Time) {
	for id := range ids {
		f.recompute(f.users[id], at)
	}
}

func (f *accessFold) recomputeRole(o *foldOrg, role string, at time.Time) {
	for id := range o.users {
		if u := f.users[id]; u.st.role == role {
			f.recompute(u, at)
		}
	}
}

// recompute is recompute (the SQL) for one user in memory.
func (f *accessFold) recompute(u *foldUser, at time.Time) {
	o := f.orgs[u.org]
	if o == nil || (u.open == nil && u.status != domain.StatusActive) {
		return // only an active user can be let in: nothing opens, nothing is open to close
	}
	var companyPerms domain.Permissions
	companyOK := u.st.company == ""
	if c := f.companies[u.st.company]; c != nil {
		companyPerms, companyOK = c.perms, c.active
	}
	eff := f.eff
	domain.EffectivePermissionsInto(eff, o.roles[u.st.role], companyPerms, u.st.perms)
	allowed := domain.AccessAllowed(u.status, o.enabled, companyOK, eff)
	if u.open != nil && (!allowed || !u.open.perms.Equal(eff)) {
		if !u.open.from.Before(at) { // opened at this same instant: drop it
			u.open.to = &time.Time{}
		} else {
			end := at
			u.open.to = &end
		}
		u.open = nil
	}
	if allowed && u.open == nil {
		u.open = &foldInterval{org: u.org, user: u.id, from: at, perms: f.interned(eff)}
		f.intervals = append(f.intervals, u.open)
	}
}

func evolveAccessUser(u *accessUser, ev domain.Event) {
	switch ev := ev.(type) {
	case domain.InvitationSent:
		u.invitation, u.invitedState = string(ev.InvitationID), true
	case domain.InvitationRevoked:
		if u.invitation == string(ev.InvitationID) {
			u.invitedState = false
		}
	case domain.InvitationAccepted:
		if u.invitation == string(ev.InvitationID) {
			u.invitedState = false
		}
		u.account = true
	case domain.UserSignedUp:
		u.account = true
	case domain.PortalAccessGranted:
		u.access = true
	case domain.PortalAccessRevoked:
		u.access = false
	case domain.UserRoleChanged:
		u.role = string(ev.RoleID)
	case domain.UserPermissionsSet:
		u.perms = ev.Permissions
		if u.perms == nil {
			u.perms = domain.Permissions{}
		}
	case domain.UserMovedToCompany:
		u.company = string(ev.CompanyID)
	case domain.UserDeactivated:
		u.deactivated = true
	case domain.UserReactivated:
		u.deactivated = false
	case domain.UserRemoved, domain.UserErased:
		u.removed = true
	}
}

func (f *accessFold) Flush(ctx context.Context, tx pgx.Tx) error {
	var rows [][]any
	for id, o := range f.orgs {
		roles := map[string]domain.Permissions{}
		for r, p := range o.roles {
			if p == nil {
				p = domain.Permissions{}
			}
			roles[r] = p
		}
		rows = append(rows, []any{idArg(id), o.enabled, roles})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"access_orgs"}, []string{"org_id", "enabled", "roles"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy access orgs: %w", err)
	}
	rows = rows[:0]
	for id, c := range f.companies {
		perms := c.perms
		if perms == nil {
			perms = domain.Permissions{}
		}
		rows = append(rows, []any{idArg(id), idArg(c.org), c.active, perms})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"access_companies"}, []string{"company_id", "org_id", "active", "perms"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy access companies: %w", err)
	}
	rows = rows[:0]
	for _, u := range f.order {
		rows = append(rows, []any{idArg(u.id), idArg(u.org), idArg(u.st.company), idArg(u.st.role), u.st.perms, u.st.access, u.st.account, u.st.deactivated,
			u.st.removed, idArg(u.st.invitation), u.st.invitedState, string(u.status), u.st.version})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"access_users"}, []string{"user_id", "org_id", "company_id", "role_id", "perms", "portal_access",
		"has_account", "deactivated", "removed", "invitation", "invited", "status", "version"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy access users: %w", err)
	}
	rows = rows[:0]
	// Most intervals share a handful of permission sets: each is encoded
	// once (pgx writes []byte into jsonb as it is).
	encoded := map[string][]byte{}
	for _, iv := range f.intervals {
		if iv.to != nil && iv.to.IsZero() {
			continue // dropped: opened and closed at one instant
		}
		var to any
		if iv.to != nil {
			to = *iv.to
		}
		perms, err := encodePermissions(encoded, iv.perms)
		if err != nil {
			return err
		}
		rows = append(rows, []any{idArg(iv.org), idArg(iv.user), iv.from, to, perms})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"access_intervals"}, []string{"org_id", "user_id", "valid_from", "valid_to", "permissions"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy access intervals: %w", err)
	}
	return nil
}

// encodePermissions is p as JSON, remembered in seen by its members.
func encodePermissions(seen map[string][]byte, p domain.Permissions) ([]byte, error) {
	var key strings.Builder
	members := 0
	for _, name := range domain.AllPermissions {
		if v, ok := p[name]; ok {
			members++
			key.WriteString(string(name))
			if v {
				key.WriteString("=1;")
			} else {
				key.WriteString("=0;")
			}
		}
	}
	remember := p != nil && members == len(p) // nil is null, not {}; unknown names are not remembered
	if b, ok := seen[key.String()]; ok && remember {
		return b, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode permissions: %w", err)
	}
	if remember {
		seen[key.String()] = b
	}
	return b, nil
}
