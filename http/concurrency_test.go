package http_test

import (
	"fmt"
	"sync"
	"testing"
)

// 100 concurrent conflicting commands on one user: every answer is a
// success or a clear conflict, no acknowledged change is lost, and the
// read model ends where a serial replay of the stream ends.
func TestConcurrentConflictingCommandsOnOneUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	user := o.createUser(company, "ada@globex.test")
	var mu sync.Mutex
	statuses := map[string]map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var kind string
			var r response
			switch i % 4 {
			case 0, 1:
				kind = "edit"
				r = o.staff("PATCH", "/users/"+user, map[string]any{"last_name": fmt.Sprintf("Name%03d", i)})
			case 2:
				kind = "invite"
				r = o.staff("POST", "/users/"+user+"/invitations", nil)
			default:
				kind = "deactivate"
				if i%8 == 3 {
					kind = "reactivate"
				}
				r = o.staff("POST", "/users/"+user+"/"+kind, nil)
			}
			mu.Lock()
			if statuses[kind] == nil {
				statuses[kind] = map[int]int{}
			}
			statuses[kind][r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	for kind, by := range statuses {
		for status := range by {
			if status != 200 && status != 201 && status != 409 {
				t.Fatalf("%s answered %d: %v", kind, status, statuses)
			}
		}
	}
	// Every acknowledged edit and invitation is in the stream.
	if n := h.countEvents("UserUpdated"); n != statuses["edit"][200] {
		t.Fatalf("%d UserUpdated events, %d edits acknowledged (%v)", n, statuses["edit"][200], statuses)
	}
	if n := h.countEvents("InvitationSent"); n != statuses["invite"][201] {
		t.Fatalf("%d InvitationSent events, %d invitations acknowledged (%v)", n, statuses["invite"][201], statuses)
	}
	// The read model equals the replay of the stream.
	h.caughtUp(t)
	items := o.staff("GET", "/users/"+user+"/history", nil).json(t)["items"].([]any)
	last, deactivated := "", false
	for _, it := range items {
		m := it.(map[string]any)
		switch m["type"] {
		case "UserUpdated":
			last = m["data"].(map[string]any)["last_name"].(string)
		case "UserDeactivated":
			deactivated = true
		case "UserReactivated":
			deactivated = false
		}
	}
	u := o.staff("GET", "/users/"+user, nil).json(t)
	if u["last_name"] != last || (u["status"] == "deactivated") != deactivated || u["version"] != float64(len(items)) {
		t.Fatalf("read model %v / replay last name %q deactivated %v after %d events", u, last, deactivated, len(items))
	}
	t.Logf("outcomes: %v", statuses)
}
