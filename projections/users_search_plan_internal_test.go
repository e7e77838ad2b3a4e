package projections

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"gatehouse/domain"
	"gatehouse/migrations/dbtest"
)

// A search for a whole address must not cost the organization's size:
// given an organization of 20,000 users with statistics gathered, and one
// created after they were (which the planner takes for small), when staff
// search either for an address or part of one, then the plan reads a range
// of users_view_org_email_local (a condition on the reversed local part,
// not only the organization) and scans users_view nowhere.
func TestSearchByAddressPlanReadsTheLocalPartRange(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewPool(t)
	ctx := context.Background()
	insert := func(org string, n int) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO users_view (user_id, org_id, first_name, last_name, email, status, portal_access, version, created_at, updated_at)
			SELECT gen_random_uuid(), $1, 'First' || i, 'Last' || i, 'user' || i || '@example.com', 'active', true, 1, now(), now()
			FROM generate_series(1, $2::int) i`, org, n); err != nil {
			t.Fatalf("insert %d users: %v", n, err)
		}
	}
	known, fresh := uuid.NewString(), uuid.NewString()
	insert(known, 20000)
	if _, err := pool.Exec(ctx, `ANALYZE users_view`); err != nil {
		t.Fatal(err)
	}
	insert(fresh, 5000)

	for _, c := range []struct{ org, q string }{
		{known, "user123@example.com"},
		{known, "r123@exa"},
		{known, "USER9@Example.com"},
		{fresh, "user77@example.com"},
		{fresh, "7@"},
	} {
		q, args, err := UserFilter{Query: c.q, Limit: 50}.listQuery(domain.OrgID(c.org))
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		if err := pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&out); err != nil {
			t.Fatalf("explain search %q: %v", c.q, err)
		}
		var plans []struct{ Plan planNode }
		if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
			t.Fatalf("plan of %q: %v\n%s", c.q, err, out)
		}
		indexes, seqScans, ranges := map[string]bool{}, 0, 0
		plans[0].Plan.walk(func(n planNode) {
			if n.IndexName != "" {
				indexes[n.IndexName] = true
			}
			// The index leads with org_id: read for the organization
			// alone, it would hand over all its users to be filtered.
			if n.IndexName == "users_view_org_email_local" && strings.Contains(n.IndexCond, "reverse(") {
				ranges++
			}
			if n.NodeType == "Seq Scan" && n.RelationName == "users_view" {
				seqScans++
			}
		})
		if ranges == 0 || seqScans > 0 {
			t.Errorf("search %q in the %s organization: %d ranges of users_view_org_email_local, indexes %v, %d scans of users_view; plan:\n%s",
				c.q, map[bool]string{true: "known", false: "fresh"}[c.org == known], ranges, keys(indexes), seqScans, indent(out))
		}
	}
}

// planNode is the part of EXPLAIN (FORMAT JSON) the test reads.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	IndexCond    string     `json:"Index Cond"`
	Plans        []planNode `json:"Plans"`
}

func (n planNode) walk(visit func(planNode)) {
	visit(n)
	for _, c := range n.Plans {
		c.walk(visit)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func indent(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return strings.TrimSpace(string(out))
}
