package projections

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// The access fold computes effective permissions into one scratch map:
// given two active users of one role, when the second one's own
// permissions change, then the first one's open interval still carries
// the permissions it opened with, and the second one's intervals carry
// theirs before and after the change.
func TestAccessFoldIntervalsKeepTheirOwnPermissions(t *testing.T) {
	f := (&Access{}).Fold().(*accessFold)
	org, role := uuid.NewString(), domain.RoleID(uuid.NewString())
	a, b := uuid.NewString(), uuid.NewString()
	at := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	versions := map[string]int{}
	add := func(stream string, ev domain.Event) {
		t.Helper()
		versions[stream]++
		at = at.Add(time.Second)
		e := eventstore.RecordedEvent{StreamID: stream, StreamVersion: versions[stream], Type: ev.EventType(), OrgID: org, RecordedAt: at}
		if err := f.Add(e, ev); err != nil {
			t.Fatal(err)
		}
	}
	rolePerms := domain.Permissions{domain.PermViewPriority: true}
	add("org-"+org, domain.PortalEnabled{})
	add("org-"+org, domain.RoleCreated{RoleID: role, Name: "r", Permissions: rolePerms})
	for _, u := range []string{a, b} {
		add("user-"+u, domain.UserCreated{UserID: domain.UserID(u), OrgID: domain.OrgID(org), RoleID: role, PortalAccess: true})
		add("user-"+u, domain.InvitationAccepted{})
	}
	own := domain.Permissions{domain.PermEditTags: true, domain.PermViewPriority: false}
	add("user-"+b, domain.UserPermissionsSet{Permissions: own})

	byRole := domain.EffectivePermissions(rolePerms, nil, nil)
	withOwn := domain.EffectivePermissions(rolePerms, nil, own)
	want := []struct {
		user  string
		open  bool
		perms domain.Permissions
	}{{a, true, byRole}, {b, false, byRole}, {b, true, withOwn}}
	if len(f.intervals) != len(want) {
		t.Fatalf("%d intervals, want %d", len(f.intervals), len(want))
	}
	for i, w := range want {
		iv := f.intervals[i]
		if iv.user != w.user || (iv.to == nil) != w.open || !iv.perms.Equal(w.perms) {
			t.Errorf("interval %d: user %s, open %v, permissions %v; want user %s, open %v, permissions %v",
				i, iv.user, iv.to == nil, iv.perms, w.user, w.open, w.perms)
		}
	}
}
