package commands_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
)

// twoProcesses are two command handlers on one database, each hearing
// revocations through a listener of its own, as two serve processes would.
func twoProcesses(t *testing.T, listen bool) (one, other *commands.App, store *eventstore.Store, org commands.CreateOrganizationResult) {
	t.Helper()
	pool, url := dbtest.NewPool(t)
	store = eventstore.New(pool)
	t.Cleanup(store.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	apps := make([]*commands.App, 2)
	for i := range apps {
		apps[i] = commands.New(commands.Deps{Store: store})
		wake := eventstore.NewWakeup(url, zerolog.Nop())
		apps[i].WatchStaffTokens(wake)
		if listen {
			go wake.Run(ctx)
		}
	}
	org, err := apps[0].CreateOrganization(ctx, commands.Meta{}, commands.CreateOrganization{Name: "Globex", AdminEmail: "admin@globex.test"})
	if err != nil {
		t.Fatal(err)
	}
	return apps[0], apps[1], store, org
}

func authenticates(t *testing.T, app *commands.App, token string) bool {
	t.Helper()
	_, err := app.AuthenticateStaff(context.Background(), token)
	if err != nil && !errors.Is(err, commands.ErrUnauthenticated) {
		t.Fatal(err)
	}
	return err == nil
}

// Given a token both processes have used, when one revokes it, then the
// revoking process refuses it at once and the other within moments.
func TestARevokedStaffTokenIsRefusedByEveryProcess(t *testing.T) {
	t.Parallel()
	one, other, _, org := twoProcesses(t, true)
	ctx := context.Background()
	admin := commands.Meta{Org: org.OrgID, Actor: domain.Actor{Kind: domain.ActorStaff, ID: "test", Role: domain.StaffAdmin}, Trigger: domain.TriggerManual}
	agent, err := one.IssueToken(ctx, admin, "agent", domain.StaffAgent)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !authenticates(t, one, agent.Token) || !authenticates(t, other, agent.Token) {
		if time.Now().After(deadline) {
			t.Fatal("the new token is refused")
		}
		time.Sleep(10 * time.Millisecond) // the listeners connect
	}
	if err := one.RevokeToken(ctx, admin, agent.ID); err != nil {
		t.Fatal(err)
	}
	if authenticates(t, one, agent.Token) {
		t.Fatal("the revoking process still takes the token after answering")
	}
	deadline = time.Now().Add(2 * time.Second)
	for authenticates(t, other, agent.Token) {
		if time.Now().After(deadline) {
			t.Fatal("the other process still takes the revoked token after 2 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !authenticates(t, other, org.AdminToken) {
		t.Fatal("another token is refused")
	}
}

// A process keeps identities only while it hears revocations: without a
// listener every request reads the token's row.
func TestStaffTokensAreKeptOnlyWhileRevocationsAreHeard(t *testing.T) {
	t.Parallel()
	for _, listen := range []bool{true, false} {
		one, _, store, org := twoProcesses(t, listen)
		deadline := time.Now().Add(5 * time.Second)
		for !authenticates(t, one, org.AdminToken) {
			if time.Now().After(deadline) {
				t.Fatal("the token is refused")
			}
		}
		time.Sleep(200 * time.Millisecond) // the listener connects, and the token is kept once read again
		if !authenticates(t, one, org.AdminToken) {
			t.Fatal("the token is refused")
		}
		// A change behind the commands' back, without a notification: a
		// kept identity still passes, a read one does not.
		if _, err := store.Pool().Exec(context.Background(), `UPDATE staff_tokens SET revoked = true`); err != nil {
			t.Fatal(err)
		}
		if got := authenticates(t, one, org.AdminToken); got != listen {
			t.Fatalf("listening %v: token taken %v after its row changed", listen, got)
		}
	}
}
