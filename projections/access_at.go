package projections

import (
	"context"
	"sort"
	"strings"
	"time"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// AccessEntry is one person who had portal access at an instant, with
// their effective permissions then.
type AccessEntry struct {
	UserID      domain.UserID      `json:"user_id"`
	Email       string             `json:"email"`
	FirstName   string             `json:"first_name"`
	LastName    string             `json:"last_name"`
	CompanyID   domain.CompanyID   `json:"company_id,omitempty"`
	Status      domain.UserStatus  `json:"status"`
	Permissions domain.Permissions `json:"permissions"`
}

// AccessAt replays org's events recorded up to at, through the domain's
// own aggregates, and answers who had portal access then (only user, when
// set). Being a replay, it is the reference any faster answer must match.
func AccessAt(ctx context.Context, store *eventstore.Store, org domain.OrgID, at time.Time, user domain.UserID) ([]AccessEntry, error) {
	o := &domain.Organization{}
	companies := map[domain.CompanyID]*domain.Company{}
	users := map[domain.UserID]*domain.User{}
	var cursor eventstore.Cursor
	for {
		events, err := store.ReadOrgUntil(ctx, string(org), cursor, 5000, at)
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
			if err != nil {
				return nil, err
			}
			switch {
			case strings.HasPrefix(e.StreamID, "org-"):
				o.Apply(ev)
			case strings.HasPrefix(e.StreamID, "company-"):
				id := domain.CompanyID(strings.TrimPrefix(e.StreamID, "company-"))
				if companies[id] == nil {
					companies[id] = &domain.Company{}
				}
				companies[id].Apply(ev)
			case strings.HasPrefix(e.StreamID, "user-"):
				id := domain.UserID(strings.TrimPrefix(e.StreamID, "user-"))
				if user != "" && id != user {
					continue
				}
				if users[id] == nil {
					users[id] = &domain.User{}
				}
				users[id].Apply(ev)
			}
		}
		if len(events) < 5000 {
			break
		}
		cursor = eventstore.After(events[len(events)-1])
	}
	out := []AccessEntry{}
	for id, u := range users {
		companyActive := true
		var companyPerms, rolePerms domain.Permissions
		if c := companies[u.CompanyID]; u.CompanyID != "" {
			companyActive = c != nil && c.PortalActive
			if c != nil {
				companyPerms = c.Permissions
			}
		}
		if r, ok := o.Roles[u.RoleID]; ok {
			rolePerms = r.Permissions
		}
		eff := domain.EffectivePermissions(rolePerms, companyPerms, u.Permissions)
		if !domain.AccessAllowed(u.Status(), o.PortalEnabled, companyActive, eff) {
			continue
		}
		out = append(out, AccessEntry{UserID: id, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
			CompanyID: u.CompanyID, Status: u.Status(), Permissions: eff})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}
