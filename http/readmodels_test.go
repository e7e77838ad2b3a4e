package http_test

import (
	"encoding/csv"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestAccessDecision(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	other := h.newOrg("umbrella")
	company := o.setup()
	role := o.staff("POST", "/roles", map[string]any{"name": "Closer", "permissions": map[string]bool{"close_tickets": true}}).json(t)["id"].(string)
	ada := o.activeUser(company, "ada@globex.test", map[string]any{"role_id": role})
	pending := o.createUser(company, "pending@globex.test")

	decision := func(id string) map[string]any { return o.staff("GET", "/access/"+id, nil).json(t) }
	wait := func(what string, id string, allowed bool) {
		t.Helper()
		eventually(t, what, func() bool { return decision(id)["allowed"] == allowed })
	}
	wait("active user allowed", ada, true)
	if p := decision(ada)["permissions"].(map[string]any); p["close_tickets"] != true || p["manage_users"] != false || p["portal_access"] != true {
		t.Fatalf("permissions: %v", p)
	}
	wait("not yet active", pending, false)
	o.staff("POST", "/companies/"+company+"/portal/deactivate", nil)
	wait("company portal off", ada, false)
	if p := decision(ada)["permissions"].(map[string]any); p["close_tickets"] != false {
		t.Fatalf("a refused user keeps permissions: %v", p)
	}
	o.staff("POST", "/companies/"+company+"/portal/activate", nil)
	wait("company portal on", ada, true)
	o.staff("POST", "/portal/disable", nil)
	wait("portal off", ada, false)
	o.staff("POST", "/portal/enable", nil)
	wait("portal on", ada, true)
	o.staff("POST", "/users/"+ada+"/deactivate", nil)
	wait("deactivated", ada, false)
	o.staff("POST", "/users/"+ada+"/reactivate", nil)
	wait("reactivated", ada, true)
	o.staff("PATCH", "/users/"+ada, map[string]any{"permissions": map[string]bool{"portal_access": false}})
	wait("portal_access overridden off", ada, false)

	o.staff("GET", "/access/0190a000-0000-7000-8000-00000000abcd", nil).problem(t, 404, "user_not_found")
	other.staff("GET", "/access/"+ada, nil).problem(t, 404, "user_not_found")
	o.staff("GET", "/access/not-an-id", nil).problem(t, 404, "user_not_found")

	// The decision checks the token in its own query: the same answers as
	// every other staff route, the token first.
	tok := o.staff("POST", "/tokens", map[string]any{"name": "widget", "role": "agent"}).json(t)
	if r := h.do("GET", "/v1/orgs/"+o.id+"/access/"+ada, tok["token"].(string), nil); r.status != 200 || r.json(t)["status"] != "active" || r.json(t)["allowed"] != false {
		t.Fatalf("an agent's token: %d %s", r.status, r.body)
	}
	o.staff("DELETE", "/tokens/"+tok["id"].(string), nil)
	h.do("GET", "/v1/orgs/"+o.id+"/access/"+ada, tok["token"].(string), nil).problem(t, 401, "unauthenticated")
	h.do("GET", "/v1/orgs/"+o.id+"/access/not-an-id", tok["token"].(string), nil).problem(t, 401, "unauthenticated")
	h.do("GET", "/v1/orgs/"+o.id+"/access/"+ada, "", nil).problem(t, 401, "unauthenticated")
	h.do("GET", "/v1/orgs/"+o.id+"/access/"+ada, "no-such-token", nil).problem(t, 401, "unauthenticated")
	h.do("GET", "/v1/orgs/"+other.id+"/access/"+ada, o.token, nil).problem(t, 404, "not_found")
}

func TestUserListFiltersSearchAndPagination(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	other := o.staff("POST", "/companies", map[string]any{"name": "Initech"}).json(t)["id"].(string)
	const n = 40
	for i := 0; i < n; i++ {
		c := company
		if i%4 == 0 {
			c = other
		}
		o.staff("POST", "/users", map[string]any{"first_name": fmt.Sprintf("Person%02d", i), "last_name": "Lovelace", "email": fmt.Sprintf("p%02d@globex.test", i), "company_id": c, "portal_access": i%2 == 0})
	}
	list := func(query string) []any {
		r := o.staff("GET", "/users?"+query, nil)
		if r.status != 200 {
			t.Fatalf("list %s: %d %s", query, r.status, r.body)
		}
		return r.json(t)["items"].([]any)
	}
	eventually(t, "all users projected", func() bool { return len(list("limit=500")) == n })
	if got := len(list("company_id=" + other + "&limit=500")); got != 10 {
		t.Fatalf("company filter: %d", got)
	}
	if got := len(list("status=added&limit=500")); got != 20 {
		t.Fatalf("status filter: %d", got)
	}
	if got := len(list("q=LOVELACE&limit=500")); got != n {
		t.Fatalf("case-insensitive name search: %d", got)
	}
	if got := list("q=P07%40GLOBEX"); len(got) != 1 || got[0].(map[string]any)["first_name"] != "Person07" {
		t.Fatalf("email search: %v", got)
	}
	if got := len(list("q=person1&status=added")); got != 5 {
		t.Fatalf("combined filters: %d", got)
	}
	if got := len(list("q=%25")); got != 0 {
		t.Fatalf("a literal %% matches nothing: %d", got)
	}

	// Paging while writes happen: every user that existed at the start is
	// seen exactly once.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			o.staff("POST", "/users", map[string]any{"first_name": "Late", "last_name": fmt.Sprint(i), "email": fmt.Sprintf("late%d@globex.test", i)})
		}
	}()
	seen := map[string]int{}
	cursor := ""
	for pages := 0; pages < 100; pages++ {
		q := "limit=7"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := o.staff("GET", "/users?"+q, nil).json(t)
		for _, it := range r["items"].([]any) {
			seen[it.(map[string]any)["email"].(string)]++
		}
		next, _ := r["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	close(stop)
	wg.Wait()
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprintf("p%02d@globex.test", i)]; c != 1 {
			t.Fatalf("p%02d seen %d times", i, c)
		}
	}
	for email, c := range seen {
		if c != 1 {
			t.Fatalf("%s seen %d times", email, c)
		}
	}
}

func TestCSVExport(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	names := []string{"=HYPERLINK(\"http://evil\")", "+1+1", "-2", "@SUM(A1)", "Comma, Quote \" Name", "Zoë Ünicode"}
	ids := make([]string, len(names))
	for i, name := range names {
		r := o.staff("POST", "/users", map[string]any{"first_name": name, "last_name": "Line", "email": fmt.Sprintf("u%d@globex.test", i), "company_id": company})
		ids[i] = r.json(t)["id"].(string)
	}
	// A user without a company, with a role whose name needs quoting and
	// defusing: names are looked up by id beside the query, not joined.
	role := o.staff("POST", "/roles", map[string]any{"name": "=Role, \"Closer\"", "permissions": map[string]bool{"close_tickets": true}}).json(t)["id"].(string)
	loner := o.staff("POST", "/users", map[string]any{"first_name": "Lone", "last_name": "Wolf", "email": "lone@acme.test", "role_id": role}).json(t)["id"].(string)
	export := func(query string) [][]string {
		t.Helper()
		r := o.staff("GET", "/users/export.csv?"+query, nil)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
			t.Fatalf("export %s: %d %s", query, r.status, r.body)
		}
		rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil {
			t.Fatalf("export is not RFC 4180 CSV: %v\n%s", err, r.body)
		}
		if strings.Join(rows[0], ",") != "id,first_name,last_name,email,status,portal_access,company_id,company_name,role_id,role_name,invitation_status,invitation_expires_at,properties,created_at,updated_at" {
			t.Fatalf("header %v", rows[0])
		}
		return rows[1:]
	}
	eventually(t, "all users exported with their company", func() bool {
		rows := export("")
		for _, row := range rows {
			if row[7] != "Globex" && row[0] != loner {
				return false
			}
		}
		return len(rows) == len(names)+1
	})
	byID := map[string][]string{}
	for _, row := range export("") {
		byID[row[0]] = row
		if (row[8] == "") != (row[9] == "") || (row[6] == "") != (row[7] == "") {
			t.Errorf("ids and names disagree: %v", row)
		}
	}
	if row := byID[loner]; row[6] != "" || row[7] != "" || row[8] != role || row[9] != "'=Role, \"Closer\"" {
		t.Errorf("user without a company, with a role: company %q %q, role %q %q", row[6], row[7], row[8], row[9])
	}
	want := []string{"'=HYPERLINK(\"http://evil\")", "'+1+1", "'-2", "'@SUM(A1)", "Comma, Quote \" Name", "Zoë Ünicode"}
	for i, id := range ids {
		if got := byID[id][1]; got != want[i] {
			t.Errorf("first_name of %q exported as %q, want %q", names[i], got, want[i])
		}
		if byID[id][7] != "Globex" {
			t.Errorf("company name %q", byID[id][7])
		}
	}
	if rows := export("ids=" + ids[1] + "," + ids[4]); len(rows) != 2 || rows[0][0] != ids[1] || rows[1][0] != ids[4] {
		t.Fatalf("selected ids: %v", rows)
	}
	if rows := export("q=ZO%C3%8B"); len(rows) != 1 || rows[0][0] != ids[5] {
		t.Fatalf("filtered: %v", rows)
	}
	o.staff("GET", "/users/export.csv?ids=a,b", nil).problem(t, 422, "validation_failed")
	o.staff("GET", "/users/export.csv?status=happy", nil).problem(t, 422, "validation_failed")
}
