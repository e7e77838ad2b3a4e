package domain_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gatehouse/domain"
)

// applier is any aggregate.
type applier interface{ Apply(domain.Event) }

func given[T applier](agg T, events ...domain.Event) T {
	for _, e := range events {
		agg.Apply(e)
	}
	return agg
}

// then checks a decision: either the wanted events, or an error matching wantErr.
func then(t *testing.T, got []domain.Event, err error, want []domain.Event, wantErr error) {
	t.Helper()
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("got error %v (events %v), want %v", err, got, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got events\n  %#v\nwant\n  %#v", got, want)
	}
}

// fieldsOf returns the invalid field names of a validation error.
func fieldsOf(err error) []string {
	var de *domain.Error
	if !errors.As(err, &de) {
		return nil
	}
	var names []string
	for _, f := range de.Fields {
		names = append(names, f.Field)
	}
	return names
}

const (
	org     = domain.OrgID("0190a000-0000-7000-8000-000000000001")
	company = domain.CompanyID("0190a000-0000-7000-8000-000000000002")
	user    = domain.UserID("0190a000-0000-7000-8000-000000000003")
	inv1    = domain.InvitationID("0190a000-0000-7000-8000-000000000004")
	inv2    = domain.InvitationID("0190a000-0000-7000-8000-000000000005")
)

var (
	now            = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	orgCreated     = domain.OrganizationCreated{OrgID: org, Name: "Acme Support", Slug: "acme-support", AdminEmail: "boss@acme.test"}
	companyCreated = domain.CompanyCreated{CompanyID: company, OrgID: org, Name: "Globex"}
	userCreated    = domain.UserCreated{UserID: user, OrgID: org, CompanyID: company, FirstName: "Ada", LastName: "Lovelace", Email: "ada@globex.test", PortalAccess: true}
	invited        = domain.InvitationSent{InvitationID: inv1, TokenHash: "h1", ExpiresAt: now.Add(24 * time.Hour)}
)

func TestCreateOrganization(t *testing.T) {
	tests := []struct {
		name   string
		given  []domain.Event
		input  domain.NewOrganization
		want   []domain.Event
		err    error
		fields []string
	}{
		{
			name:  "creates the organization with a slug from its name and an admin token",
			input: domain.NewOrganization{ID: org, Name: "  Acme Support ", AdminEmail: "Boss@Acme.test", AdminTokenID: "t1", AdminTokenHash: "th"},
			want:  []domain.Event{orgCreated, domain.StaffTokenIssued{TokenID: "t1", Name: "admin boss@acme.test", Role: domain.StaffAdmin, TokenHash: "th"}},
		},
		{name: "refuses a second creation", given: []domain.Event{orgCreated}, input: domain.NewOrganization{ID: org, Name: "X", AdminEmail: "a@b.test"}, err: domain.ErrOrganizationExists},
		{name: "refuses an empty name and a bad email", input: domain.NewOrganization{ID: org, Name: " ", AdminEmail: "nope"}, err: domain.ErrValidation, fields: []string{"name", "slug", "admin_email"}},
		{name: "refuses a bad slug", input: domain.NewOrganization{ID: org, Name: "A", Slug: "-Bad-", AdminEmail: "a@b.test"}, err: domain.ErrValidation, fields: []string{"slug"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := given(&domain.Organization{}, tt.given...)
			got, err := o.Create(tt.input)
			then(t, got, err, tt.want, tt.err)
			if tt.fields != nil && !reflect.DeepEqual(fieldsOf(err), tt.fields) {
				t.Fatalf("invalid fields %v, want %v", fieldsOf(err), tt.fields)
			}
		})
	}
}

func TestPortalOnOff(t *testing.T) {
	tests := []struct {
		name   string
		given  []domain.Event
		enable bool
		want   []domain.Event
		err    error
	}{
		{name: "enables a disabled portal", given: []domain.Event{orgCreated}, enable: true, want: []domain.Event{domain.PortalEnabled{}}},
		{name: "enabling an enabled portal changes nothing", given: []domain.Event{orgCreated, domain.PortalEnabled{}}, enable: true},
		{name: "disables an enabled portal", given: []domain.Event{orgCreated, domain.PortalEnabled{}}, want: []domain.Event{domain.PortalDisabled{}}},
		{name: "disabling a disabled portal changes nothing", given: []domain.Event{orgCreated}},
		{name: "unknown organization", enable: true, err: domain.ErrOrganizationNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := given(&domain.Organization{}, tt.given...)
			decide := o.DisablePortal
			if tt.enable {
				decide = o.EnablePortal
			}
			got, err := decide()
			then(t, got, err, tt.want, tt.err)
		})
	}
}

func TestCreateCompanyAndActivatePortal(t *testing.T) {
	parent := given(&domain.Company{}, domain.CompanyCreated{CompanyID: "p", OrgID: org, Name: "Parent"})
	foreign := given(&domain.Company{}, domain.CompanyCreated{CompanyID: "f", OrgID: "other", Name: "Foreign"})
	tests := []struct {
		name   string
		given  []domain.Event
		input  domain.NewCompany
		want   []domain.Event
		err    error
		fields []string
	}{
		{name: "creates a company", input: domain.NewCompany{ID: company, OrgID: org, Name: " Globex "}, want: []domain.Event{companyCreated}},
		{name: "creates a company under a parent", input: domain.NewCompany{ID: company, OrgID: org, Name: "Globex", Parent: parent},
			want: []domain.Event{domain.CompanyCreated{CompanyID: company, OrgID: org, Name: "Globex", ParentID: "p"}}},
		{name: "a parent of another organization does not exist", input: domain.NewCompany{ID: company, OrgID: org, Name: "G", Parent: foreign}, err: domain.ErrValidation, fields: []string{"parent_id"}},
		{name: "name is required", input: domain.NewCompany{ID: company, OrgID: org}, err: domain.ErrValidation, fields: []string{"name"}},
		{name: "exists already", given: []domain.Event{companyCreated}, input: domain.NewCompany{ID: company, OrgID: org, Name: "G"}, err: domain.ErrCompanyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := given(&domain.Company{}, tt.given...)
			got, err := c.Create(tt.input)
			then(t, got, err, tt.want, tt.err)
			if tt.fields != nil && !reflect.DeepEqual(fieldsOf(err), tt.fields) {
				t.Fatalf("invalid fields %v, want %v", fieldsOf(err), tt.fields)
			}
		})
	}
	t.Run("activates the portal once", func(t *testing.T) {
		c := given(&domain.Company{}, companyCreated)
		got, err := c.ActivatePortal()
		then(t, got, err, []domain.Event{domain.CompanyPortalActivated{}}, nil)
		c.Apply(got[0])
		got, err = c.ActivatePortal()
		then(t, got, err, nil, nil)
	})
	t.Run("activating an unknown company", func(t *testing.T) {
		got, err := (&domain.Company{}).ActivatePortal()
		then(t, got, err, nil, domain.ErrCompanyNotFound)
	})
}

func TestCreateUser(t *testing.T) {
	globex := given(&domain.Company{}, companyCreated)
	tests := []struct {
		name   string
		given  []domain.Event
		input  domain.NewUser
		want   []domain.Event
		err    error
		fields []string
	}{
		{name: "creates a user with portal access, email normalised",
			input: domain.NewUser{ID: user, OrgID: org, Company: globex, CompanyID: company, FirstName: "Ada", LastName: "Lovelace", Email: " ADA@Globex.test", PortalAccess: true},
			want:  []domain.Event{userCreated}},
		{name: "missing names and email",
			input: domain.NewUser{ID: user, OrgID: org, PortalAccess: true}, err: domain.ErrValidation, fields: []string{"first_name", "last_name", "email"}},
		{name: "malformed email", input: domain.NewUser{ID: user, OrgID: org, FirstName: "A", LastName: "B", Email: "Ada <ada@x.test>"},
			err: domain.ErrValidation, fields: []string{"email"}},
		{name: "unknown company", input: domain.NewUser{ID: user, OrgID: org, CompanyID: "nope", FirstName: "A", LastName: "B", Email: "a@x.test"},
			err: domain.ErrValidation, fields: []string{"company_id"}},
		{name: "company of another organization", input: domain.NewUser{ID: user, OrgID: "other", Company: globex, CompanyID: company, FirstName: "A", LastName: "B", Email: "a@x.test"},
			err: domain.ErrValidation, fields: []string{"company_id"}},
		{name: "exists already", given: []domain.Event{userCreated}, input: domain.NewUser{ID: user, OrgID: org, FirstName: "A", LastName: "B", Email: "a@x.test"}, err: domain.ErrUserExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := given(&domain.User{}, tt.given...)
			got, err := u.Create(tt.input)
			then(t, got, err, tt.want, tt.err)
			if tt.fields != nil && !reflect.DeepEqual(fieldsOf(err), tt.fields) {
				t.Fatalf("invalid fields %v, want %v", fieldsOf(err), tt.fields)
			}
		})
	}
}

func TestInviteUser(t *testing.T) {
	noAccess := userCreated
	noAccess.PortalAccess = false
	tests := []struct {
		name  string
		given []domain.Event
		want  []domain.Event
		err   error
	}{
		{name: "sends the first invitation", given: []domain.Event{userCreated},
			want: []domain.Event{domain.InvitationSent{InvitationID: inv2, TokenHash: "h2", ExpiresAt: now.Add(48 * time.Hour)}}},
		{name: "a resend kills the pending link", given: []domain.Event{userCreated, invited},
			want: []domain.Event{domain.InvitationRevoked{InvitationID: inv1, Reason: "superseded"}, domain.InvitationSent{InvitationID: inv2, TokenHash: "h2", ExpiresAt: now.Add(48 * time.Hour)}}},
		{name: "an expired link is replaced too", given: []domain.Event{userCreated, domain.InvitationSent{InvitationID: inv1, ExpiresAt: now.Add(-time.Hour)}},
			want: []domain.Event{domain.InvitationRevoked{InvitationID: inv1, Reason: "superseded"}, domain.InvitationSent{InvitationID: inv2, TokenHash: "h2", ExpiresAt: now.Add(48 * time.Hour)}}},
		{name: "not once the person has an account", given: []domain.Event{userCreated, invited, domain.InvitationAccepted{InvitationID: inv1}}, err: domain.ErrAlreadyHasAccount},
		{name: "not without portal access", given: []domain.Event{noAccess}, err: domain.ErrNoPortalAccess},
		{name: "unknown user", err: domain.ErrUserNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := given(&domain.User{}, tt.given...)
			got, err := u.Invite(now, inv2, "h2", "", 48*time.Hour)
			then(t, got, err, tt.want, tt.err)
		})
	}
}

func TestAcceptInvitation(t *testing.T) {
	tests := []struct {
		name  string
		given []domain.Event
		inv   domain.InvitationID
		at    time.Time
		want  []domain.Event
		err   error
	}{
		{name: "accepts a pending invitation", given: []domain.Event{userCreated, invited}, inv: inv1, at: now,
			want: []domain.Event{domain.InvitationAccepted{InvitationID: inv1}, domain.PasswordSet{PasswordHash: "ph"}}},
		{name: "an expired invitation is gone", given: []domain.Event{userCreated, invited}, inv: inv1, at: now.Add(24 * time.Hour), err: domain.ErrInvitationExpired},
		{name: "a used invitation is gone", given: []domain.Event{userCreated, invited, domain.InvitationAccepted{InvitationID: inv1}}, inv: inv1, at: now, err: domain.ErrInvitationUsed},
		{name: "a superseded invitation is gone", given: []domain.Event{userCreated, invited, domain.InvitationRevoked{InvitationID: inv1}, domain.InvitationSent{InvitationID: inv2, ExpiresAt: now.Add(time.Hour)}},
			inv: inv1, at: now, err: domain.ErrInvitationRevoked},
		{name: "unknown user", inv: inv1, at: now, err: domain.ErrInvitationNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := given(&domain.User{}, tt.given...)
			got, err := u.AcceptInvitation(tt.at, tt.inv, "ph")
			then(t, got, err, tt.want, tt.err)
		})
	}
}

func TestUserStatusFollowsTheLifecycle(t *testing.T) {
	u := given(&domain.User{}, userCreated)
	steps := []struct {
		event domain.Event
		want  domain.UserStatus
	}{
		{invited, domain.StatusInvited},
		{domain.InvitationAccepted{InvitationID: inv1}, domain.StatusActive},
	}
	if u.Status() != domain.StatusAccessGranted {
		t.Fatalf("after creation: %s", u.Status())
	}
	for _, s := range steps {
		u.Apply(s.event)
		if u.Status() != s.want {
			t.Fatalf("after %s: %s, want %s", s.event.EventType(), u.Status(), s.want)
		}
	}
	if got := given(&domain.User{}, domain.UserCreated{UserID: user}).Status(); got != domain.StatusAdded {
		t.Fatalf("without portal access: %s", got)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	for _, e := range []domain.Event{orgCreated, companyCreated, userCreated, invited, domain.PortalEnabled{}, domain.PasswordSet{PasswordHash: "x"}} {
		b, err := domain.EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := domain.DecodeEvent(e.EventType(), domain.SchemaVersion, b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("%s: got %#v", e.EventType(), back)
		}
	}
	if _, err := domain.DecodeEvent("NoSuchEvent", 1, []byte(`{}`)); err == nil {
		t.Fatal("unknown event type decoded")
	}
}

// TestEmailNormalisation: one person, however the address is typed, is one
// address — case, Unicode composition, full-width letters and the ASCII
// (punycode) spelling of an internationalised domain.
func TestEmailNormalisation(t *testing.T) {
	same := map[string][]string{
		"ada@bücher.de":   {"ADA@Bücher.DE", "ada@xn--bcher-kva.de", " Ada@BU\u0308CHER.de ", "ada@ＢÜＣＨＥＲ.de"},
		"zoë@example.com": {"ZOË@example.com", "zoe\u0308@EXAMPLE.com"},
	}
	for want, typed := range same {
		for _, s := range typed {
			if got := domain.NormalizeEmail(s); got != want {
				t.Errorf("NormalizeEmail(%q) = %q, want %q", s, got, want)
			}
		}
	}
	if got := domain.EmailForDelivery("ada@bücher.de"); got != "ada@xn--bcher-kva.de" {
		t.Errorf("delivery form %q", got)
	}
	for _, bad := range []string{"ada@xn--zz.test", "ada@exa mple.com", "ada@-bad-.com", "ada@" + strings.Repeat("a", 64) + ".com"} {
		var u domain.User
		if _, err := u.Create(domain.NewUser{ID: "u", OrgID: "o", FirstName: "A", LastName: "B", Email: bad}); !errors.Is(err, domain.ErrValidation) {
			t.Errorf("accepted %q: %v", bad, err)
		}
	}
}
