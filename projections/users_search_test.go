package projections_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/migrations/dbtest"
	"gatehouse/projections"
)

// A search for an address goes through the reversed local part
// (users_view_org_email_local) instead of the trigrams. It must find
// exactly what a substring search of emails and names finds: given users,
// when searching for each query, then the users listed are those whose
// lower-cased email or full name contains it, and only in the organization
// asked about.
func TestSearchByAddressFindsWhatASubstringFinds(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	store := eventstore.New(pool)
	ctx := context.Background()
	type person struct{ first, last, email string }
	people := []person{
		{"Ada", "Lovelace", "ada@example.com"},
		{"Jim", "Bob", "jimbob@example.com"},
		{"Bob", "One", "bob@example.com"},
		{"Bob", "Two", "bob@example.com.au"},
		{"Bob", "Three", "bob@other.org"},
		{"Bob@Example", "Fan", "fan@fans.test"},
		{"Zoë", "Ünal", "zoë@bücher.de"},
		{"Per", "Cent", "ann%x@example.com"},
		{"Under", "Score", "a_b@example.com"},
		{"Upper", "Case", "MiXeD@Example.COM"},
	}
	org, other := domain.OrgID(uuid.NewString()), domain.OrgID(uuid.NewString())
	emailOf := map[domain.UserID]string{}
	for _, o := range []domain.OrgID{org, other} {
		for _, p := range people {
			id := domain.UserID(uuid.NewString())
			appendUserEvents(t, store, o, id, domain.UserCreated{UserID: id, OrgID: o, FirstName: p.first, LastName: p.last, Email: p.email})
			if o == org {
				emailOf[id] = p.email
			}
		}
	}
	users := projections.NewUsers(store)
	runProjections(t, store, users)
	eventually(t, "users projected", func() (bool, error) {
		list, _, err := users.List(ctx, other, projections.UserFilter{Limit: 100})
		return len(list) == len(people), err
	})

	for _, q := range []string{
		"bob@example.com", "BOB@EXAMPLE.COM", "b@example", "ob@", "bob@example.com.", "@example.com", "@",
		"bob@example fan", "jimbob@example.com.au", "zoë@bücher.de", "ë@b", "n%x@", "%@", "a_b@", "_@", "x@y@z",
		"mixed@example.com", "ed@exa", " ada@example.com ", "da@example.comx",
	} {
		var want []string
		needle := strings.ToLower(strings.TrimSpace(q))
		for _, p := range people {
			if strings.Contains(strings.ToLower(p.email), needle) || strings.Contains(strings.ToLower(p.first+" "+p.last), needle) {
				want = append(want, p.email)
			}
		}
		list, _, err := users.List(ctx, org, projections.UserFilter{Query: q, Limit: 100})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		var got []string
		for _, u := range list {
			e, ok := emailOf[u.ID]
			if !ok {
				t.Fatalf("search %q listed %s of another organization", q, u.Email)
			}
			got = append(got, e)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("search %q: got %q, want %q", q, got, want)
		}
	}
}
