package domain_test

import (
	"strings"
	"testing"

	"gatehouse/domain"
)

// FuzzDecodeEvent feeds arbitrary stored events to the decoder: it never
// panics, and what it decodes encodes again.
func FuzzDecodeEvent(f *testing.F) {
	f.Add("UserCreated", []byte(`{"user_id":"u","email":"a@b.test","portal_access":true}`))
	f.Add("InvitationSent", []byte(`{"invitation_id":"i","expires_at":"2026-01-01T00:00:00Z"}`))
	f.Add("PortalSettingsChanged", []byte(`{"settings":{"templates":{"invitation":{"subject":"s","body":"b"}}}}`))
	f.Add("NoSuchEvent", []byte(`{}`))
	f.Add("UserCreated", []byte(`{"properties":[1,2]}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		e, err := domain.DecodeEvent(typ, 1, data)
		if err != nil {
			return
		}
		if _, err := domain.EncodeEvent(e); err != nil {
			t.Fatalf("decoded %s does not encode: %v", typ, err)
		}
		// Aggregates accept any event without panicking.
		(&domain.User{}).Apply(e)
		(&domain.Company{}).Apply(e)
		o := &domain.Organization{}
		o.Apply(domain.OrganizationCreated{OrgID: "o"})
		o.Apply(e)
	})
}

// FuzzEmailRules checks that normalising is stable and never accepts an
// address with spaces or angle brackets.
func FuzzEmailRules(f *testing.F) {
	for _, s := range []string{"Ada@Example.test", " a@b.c ", "a b@c.d", "<a@b.c>", "ü@exämple.test", "", "ADA@Bücher.DE", "ada@xn--bcher-kva.de", "ada@ＢÜＣＨＥＲ.de", "a@xn--zz.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := domain.NormalizeEmail(s)
		if domain.NormalizeEmail(n) != n {
			t.Fatalf("normalising %q is not stable: %q", s, n)
		}
		var u domain.User
		events, err := u.Create(domain.NewUser{ID: "u", OrgID: "o", FirstName: "A", LastName: "B", Email: s, PortalAccess: true})
		if err == nil {
			email := events[0].(domain.UserCreated).Email
			if email != "" && domain.NormalizeEmail(domain.EmailForDelivery(email)) != email {
				t.Fatalf("the delivery form %q of %q does not normalise back", domain.EmailForDelivery(email), email)
			}
			for _, bad := range []string{" ", "<", ">", "\""} {
				if strings.Contains(email, bad) {
					t.Fatalf("accepted %q", email)
				}
			}
		}
	})
}
