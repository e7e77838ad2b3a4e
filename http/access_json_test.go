package http

import (
	"bytes"
	"encoding/json"
	"testing"

	"gatehouse/domain"
	"gatehouse/projections"
)

// The access decision is rendered by hand for speed; it must be the very
// bytes encoding/json writes for the same answer, whatever the decision
// holds.
func TestDecisionJSONIsWhatEncodingJSONWrites(t *testing.T) {
	every := domain.Permissions{}
	for i, p := range domain.AllPermissions {
		every[p] = i%2 == 0
	}
	cases := map[string]projections.Decision{
		"allowed, every permission": {Allowed: true, Status: domain.UserStatus("active"), Permissions: every},
		"refused, no permissions":   {Allowed: false, Status: domain.UserStatus("deactivated")},
		"empty permissions":         {Status: domain.UserStatus("invited"), Permissions: domain.Permissions{}},
		"characters JSON escapes":   {Status: domain.UserStatus(`a"b\c<d>&e` + "\x01\u00e9\u2028"), Permissions: domain.Permissions{`k"<&>` + "\n": true, "z": false, "a": true}},
		"more keys than the stack":  {Allowed: true, Status: domain.UserStatus("active"), Permissions: manyPermissions(40)},
		"keys that sort by byte":    {Permissions: domain.Permissions{"b": true, "B": false, "a_b": true, "a": false, "ab": true}},
	}
	for _, c := range []string{`"`, `\`, "<", ">", "&", "\x00", "\x1f", "\x7f", "\u00e9", "\u2028", "\xff"} {
		cases["status with "+c] = projections.Decision{Status: domain.UserStatus("x" + c + "y"), Permissions: domain.Permissions{domain.Permission("p" + c): true}}
	}
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(map[string]any{"allowed": d.Allowed, "status": d.Status, "permissions": permissionsJSON(d.Permissions)}); err != nil {
				t.Fatal(err)
			}
			if got := appendDecisionJSON(nil, d); !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("rendered\n%s\nencoding/json writes\n%s", got, want.Bytes())
			}
		})
	}
}

func manyPermissions(n int) domain.Permissions {
	p := domain.Permissions{}
	for i := range n {
		p[domain.Permission(string(rune('a'+i%26))+string(rune('a'+i/26)))] = i%3 == 0
	}
	return p
}
