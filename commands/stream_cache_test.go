package commands_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
)

// TestNewUsersSeeWhatAnotherProcessChanged: two command handlers on one
// database, as two processes would be. The first keeps a new user's
// organization and company between commands; whatever the second appends
// to them meanwhile is seen by the first's next command, whether the kept
// copy would refuse it (an unknown role) or not (a longer invitation).
func TestNewUsersSeeWhatAnotherProcessChanged(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	t.Cleanup(store.Close)
	ctx := context.Background()
	clock := func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }
	one := commands.New(commands.Deps{Store: store, Clock: clock})
	other := commands.New(commands.Deps{Store: store, Clock: clock})
	created, err := one.CreateOrganization(ctx, commands.Meta{}, commands.CreateOrganization{Name: "Globex", AdminEmail: "admin@globex.test"})
	if err != nil {
		t.Fatal(err)
	}
	meta := commands.Meta{Org: created.OrgID, Actor: domain.Actor{Kind: domain.ActorStaff, ID: "test", Role: domain.StaffAdmin}, Trigger: domain.TriggerManual}
	company, err := one.CreateCompany(ctx, meta, commands.CreateCompany{Name: "Initech"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	newUser := func(app *commands.App, role domain.RoleID) (commands.UserResult, error) {
		n++
		return app.CreateUser(ctx, meta, commands.CreateUser{FirstName: "Ada", LastName: fmt.Sprint(n), Email: fmt.Sprintf("ada%d@globex.test", n),
			CompanyID: string(company.ID), RoleID: string(role), SendInvite: true})
	}
	first, err := newUser(one, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Invitation.ExpiresAt.Sub(clock()); got != domain.DefaultInvitationTTLHours*time.Hour {
		t.Fatalf("first invitation valid for %s, want the default", got)
	}

	// The other process adds a role and shortens invitations.
	role, err := other.CreateRole(ctx, meta, "Closer", domain.Permissions{domain.PermCloseTickets: true})
	if err != nil {
		t.Fatal(err)
	}
	hours := 2
	if _, err := other.UpdatePortalSettings(ctx, meta, domain.SettingsPatch{InvitationTTLHours: &hours}, nil); err != nil {
		t.Fatal(err)
	}
	second, err := newUser(one, role.ID)
	if err != nil {
		t.Fatalf("a role created by the other process: %v", err)
	}
	if second.RoleID != role.ID || second.Invitation.ExpiresAt.Sub(clock()) != 2*time.Hour {
		t.Fatalf("second user: role %q, invitation valid for %s; want %q, 2h", second.RoleID, second.Invitation.ExpiresAt.Sub(clock()), role.ID)
	}
	// And again, from what is now kept, with nothing new to read.
	third, err := newUser(one, role.ID)
	if err != nil || third.RoleID != role.ID || third.Invitation.ExpiresAt.Sub(clock()) != 2*time.Hour {
		t.Fatalf("third user: %v %+v", err, third)
	}
	// A change the kept copy would not refuse on: the append checks that
	// the organization has not moved on, and the command reads it again.
	hours = 3
	if _, err := other.UpdatePortalSettings(ctx, meta, domain.SettingsPatch{InvitationTTLHours: &hours}, nil); err != nil {
		t.Fatal(err)
	}
	fourth, err := newUser(one, role.ID)
	if err != nil || fourth.Invitation.ExpiresAt.Sub(clock()) != 3*time.Hour {
		t.Fatalf("fourth user, after the other process lengthened invitations to 3h: %v, valid for %s", err, fourth.Invitation.ExpiresAt.Sub(clock()))
	}
	// A company of another organization stays unknown.
	foreign, err := other.CreateOrganization(ctx, commands.Meta{}, commands.CreateOrganization{Name: "Umbrella", AdminEmail: "admin@umbrella.test"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = one.CreateUser(ctx, commands.Meta{Org: foreign.OrgID, Actor: meta.Actor, Trigger: meta.Trigger},
		commands.CreateUser{FirstName: "Eve", LastName: "X", Email: "eve@umbrella.test", CompanyID: string(company.ID)})
	var refused *domain.Error
	if !errors.As(err, &refused) || refused.Kind != domain.KindInvalid || !strings.Contains(err.Error(), "company_id") {
		t.Fatalf("a company of another organization: %v", err)
	}
}
