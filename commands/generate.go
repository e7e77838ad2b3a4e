package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// GenerateSpec sizes a generated history.
type GenerateSpec struct {
	Orgs             int
	CompaniesPerOrg  int
	UsersPerOrg      int
	Seed             uint64
	Progress         func(events int64)
	PasswordHashStub string // stored as the users' password hash; not a real hash
}

// GeneratedOrg is one generated organization, usable through the API.
type GeneratedOrg struct {
	OrgID      domain.OrgID `json:"org_id"`
	Slug       string       `json:"slug"`
	AdminToken string       `json:"admin_token"`
	Users      int          `json:"users"`
}

// GenerateHistory writes a realistic event history straight into the log
// with COPY, for benchmarks and demos: organizations with roles and an
// enabled portal, companies, and users who are invited, re-invited,
// accepted, edited, and some deactivated and reactivated (about ten events
// per user). Reservation rows are written as commands would, so the API
// works on the result. Read models are not touched: rebuild them.
func (a *App) GenerateHistory(ctx context.Context, spec GenerateSpec) ([]GeneratedOrg, int64, error) {
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15))
	newID := func() uuid.UUID {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		b[6] = (b[6] & 0x0f) | 0x40
		b[8] = (b[8] & 0x3f) | 0x80
		return uuid.UUID(b)
	}
	firstNames := []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Niklaus", "Zoë", "Jürgen"}
	lastNames := []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Wirth", "Müller", "O'Brien"}
	start := time.Now().UTC().Add(-90 * 24 * time.Hour).Truncate(time.Microsecond)
	clock := start
	tick := func() time.Time { clock = clock.Add(time.Millisecond); return clock }

	var rows [][]any
	var total int64
	var out []GeneratedOrg
	var emails, invitations, slugs, tokens, keys [][]any
	var userKey []byte // the key of the user whose events are being added
	add := func(org domain.OrgID, stream string, version int, actor domain.Actor, trigger domain.Trigger, e domain.Event) error {
		data, err := domain.EncodeEvent(e)
		if err != nil {
			return err
		}
		if strings.HasPrefix(stream, "user-") {
			if data, err = eventstore.SealFields(userKey, data, domain.PersonalFields); err != nil {
				return err
			}
		}
		meta, _ := json.Marshal(eventstore.Metadata{OrgID: string(org), ActorKind: string(actor.Kind), ActorID: actor.ID,
			ActorName: actor.Name, Trigger: string(trigger), CorrelationID: newID().String()})
		rows = append(rows, []any{newID(), stream, version, string(org), e.EventType(), domain.SchemaVersion, data, meta, tick()})
		return nil
	}
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		tx, err := a.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"event_id", "stream_id", "stream_version", "org_id",
			"event_type", "schema_version", "data", "metadata", "recorded_at"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy events: %w", err)
		}
		for _, t := range []struct {
			table string
			cols  []string
			rows  *[][]any
		}{
			{"email_reservations", []string{"org_id", "email", "user_id"}, &emails},
			{"invitation_tokens", []string{"token_hash", "invitation_id", "org_id", "user_id"}, &invitations},
			{"org_slugs", []string{"slug", "org_id"}, &slugs},
			{"staff_tokens", []string{"token_hash", "token_id", "org_id", "name", "role"}, &tokens},
			{"user_keys", []string{"user_id", "org_id", "key"}, &keys},
		} {
			if len(*t.rows) == 0 {
				continue
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromRows(*t.rows)); err != nil {
				return fmt.Errorf("copy %s: %w", t.table, err)
			}
			*t.rows = (*t.rows)[:0]
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		total += int64(len(rows))
		rows = rows[:0]
		if spec.Progress != nil {
			spec.Progress(total)
		}
		return nil
	}
	hash := spec.PasswordHashStub
	if hash == "" {
		hash = "generated-no-password"
	}
	for o := 0; o < spec.Orgs; o++ {
		org := domain.OrgID(newID().String())
		slug := fmt.Sprintf("generated-%d-%s", o, string(org)[:8])
		admin := domain.Actor{Kind: domain.ActorStaff, ID: newID().String(), Name: "admin generated", Role: domain.StaffAdmin}
		token, tokenHash, err := newSecret()
		if err != nil {
			return nil, total, err
		}
		orgEvents := []domain.Event{
			domain.OrganizationCreated{OrgID: org, Name: fmt.Sprintf("Generated %d", o), Slug: slug, AdminEmail: "admin@generated.test"},
			domain.StaffTokenIssued{TokenID: domain.TokenID(admin.ID), Name: admin.Name, Role: domain.StaffAdmin, TokenHash: tokenHash},
			domain.PortalEnabled{},
		}
		roles := make([]domain.RoleID, 3)
		for i := range roles {
			roles[i] = domain.RoleID(newID().String())
			orgEvents = append(orgEvents, domain.RoleCreated{RoleID: roles[i], Name: fmt.Sprintf("Role %d", i),
				Permissions: domain.Permissions{domain.PermViewCompanyTickets: true, domain.PermManageUsers: i == 0, domain.PermCloseTickets: i < 2}})
		}
		for v, e := range orgEvents {
			if err := add(org, org.Stream(), v+1, admin, domain.TriggerBootstrap, e); err != nil {
				return nil, total, err
			}
		}
		slugs = append(slugs, []any{slug, string(org)})
		tokens = append(tokens, []any{tokenHash, admin.ID, string(org), admin.Name, string(domain.StaffAdmin)})
		out = append(out, GeneratedOrg{OrgID: org, Slug: slug, AdminToken: token, Users: spec.UsersPerOrg})

		companies := make([]domain.CompanyID, spec.CompaniesPerOrg)
		for c := range companies {
			companies[c] = domain.CompanyID(newID().String())
			cs := companies[c].Stream()
			if err := add(org, cs, 1, admin, domain.TriggerManual, domain.CompanyCreated{CompanyID: companies[c], OrgID: org,
				Name: fmt.Sprintf("Company %d-%d", o, c), Location: "City " + fmt.Sprint(c%50)}); err != nil {
				return nil, total, err
			}
			if err := add(org, cs, 2, admin, domain.TriggerManual, domain.CompanyPortalActivated{}); err != nil {
				return nil, total, err
			}
		}
		for u := 0; u < spec.UsersPerOrg; u++ {
			id := domain.UserID(newID().String())
			email := fmt.Sprintf("user%d.%d@company%d.test", o, u, u%max(spec.CompaniesPerOrg, 1))
			first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
			var company domain.CompanyID
			if len(companies) > 0 {
				company = companies[rng.IntN(len(companies))]
			}
			inv1, inv2 := domain.InvitationID(newID().String()), domain.InvitationID(newID().String())
			_, h1, _ := newSecret()
			_, h2, _ := newSecret()
			events := []domain.Event{
				domain.UserCreated{UserID: id, OrgID: org, CompanyID: company, RoleID: roles[rng.IntN(len(roles))], FirstName: first,
					LastName: last, Email: email, PortalAccess: true, Properties: map[string]any{"phone": fmt.Sprintf("+49 30 %07d", u)}},
				domain.InvitationSent{InvitationID: inv1, TokenHash: h1, ExpiresAt: clock.Add(24 * time.Hour)},
				domain.InvitationRevoked{InvitationID: inv1, Reason: "superseded"},
				domain.InvitationSent{InvitationID: inv2, TokenHash: h2, ExpiresAt: clock.Add(48 * time.Hour)},
			}
			switch r := rng.IntN(10); {
			case r < 8: // most accept
				events = append(events, domain.InvitationAccepted{InvitationID: inv2}, domain.PasswordSet{PasswordHash: hash},
					domain.UserUpdated{FirstName: first, LastName: last + "-" + fmt.Sprint(u%7), Changed: []string{"last_name"}},
					domain.UserPermissionsSet{Permissions: domain.Permissions{domain.PermSeeAgents: u%2 == 0}},
					domain.UserRoleChanged{RoleID: roles[rng.IntN(len(roles))]},
					domain.UserUpdated{FirstName: first, LastName: last + "-" + fmt.Sprint(u%7), Properties: map[string]any{"phone": fmt.Sprintf("+49 30 %07d", u), "vip": u%13 == 0}, Changed: []string{"properties"}})
				if r == 0 {
					events = append(events, domain.UserDeactivated{Reason: "left"}, domain.UserReactivated{Reason: "back"})
				} else if r == 1 {
					events = append(events, domain.UserDeactivated{Reason: "left"})
				}
			default: // some never do
			}
			if userKey, err = eventstore.NewUserKey(); err != nil {
				return nil, total, err
			}
			keys = append(keys, []any{string(id), string(org), userKey})
			for v, e := range events {
				if err := add(org, id.Stream(), v+1, admin, domain.TriggerManual, e); err != nil {
					return nil, total, err
				}
			}
			emails = append(emails, []any{string(org), email, string(id)})
			invitations = append(invitations, []any{h1, string(inv1), string(org), string(id)}, []any{h2, string(inv2), string(org), string(id)})
			if len(rows) >= 50000 {
				if err := flush(); err != nil {
					return nil, total, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, total, err
	}
	// A bulk load leaves the planner with stale statistics, and every
	// page for the first reader to set hint bits on (the first rebuild
	// wrote the whole log) and for autovacuum to visit in the middle of
	// whatever runs next: done here, as after any bulk load.
	if _, err := a.pool.Exec(ctx, `VACUUM (ANALYZE) events`); err != nil {
		return nil, total, fmt.Errorf("vacuum events: %w", err)
	}
	return out, total, nil
}
