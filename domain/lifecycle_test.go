package domain_test

import (
	"reflect"
	"testing"
	"time"

	"gatehouse/domain"
)

func ptr[T any](v T) *T { return &v }

const role = domain.RoleID("0190a000-0000-7000-8000-0000000000r1")

var (
	roleCreated = domain.RoleCreated{RoleID: role, Name: "Super user", Permissions: domain.Permissions{"manage_users": true}}
	accepted    = domain.InvitationAccepted{InvitationID: inv1}
	activeUser  = []domain.Event{userCreated, invited, accepted, domain.PasswordSet{PasswordHash: "ph"}}
)

func TestPortalSettings(t *testing.T) {
	base := domain.DefaultSettings()
	tests := []struct {
		name   string
		given  []domain.Event
		patch  domain.SettingsPatch
		want   []domain.Event
		err    error
		fields []string
	}{
		{name: "changes the named settings", given: []domain.Event{orgCreated},
			patch: domain.SettingsPatch{Language: ptr("de"), CustomDomain: ptr("Support.Example.com"), InvitationTTLHours: ptr(48)},
			want: []domain.Event{domain.PortalSettingsChanged{Settings: func() domain.PortalSettings {
				s := base
				s.Language, s.CustomDomain, s.InvitationTTLHours = "de", "support.example.com", 48
				return s
			}(), Changed: []string{"language", "custom_domain", "invitation_ttl_hours"}}}},
		{name: "refuses bad values, naming each field", given: []domain.Event{orgCreated},
			patch: domain.SettingsPatch{Language: ptr("german"), CustomDomain: ptr("not a host"), InvitationTTLHours: ptr(0),
				SignupPolicy: ptr(domain.SignupPolicy("sometimes")), AutoInviteDepartments: &[]string{"*", "sales"}},
			err: domain.ErrValidation, fields: []string{"language", "custom_domain", "signup_policy", "auto_invite_departments", "invitation_ttl_hours"}},
		{name: "allowed_domains policy needs domains", given: []domain.Event{orgCreated},
			patch: domain.SettingsPatch{SignupPolicy: ptr(domain.SignupAllowedDomains)}, err: domain.ErrValidation, fields: []string{"allowed_domains"}},
		{name: "the default role must exist", given: []domain.Event{orgCreated},
			patch: domain.SettingsPatch{DefaultRoleID: ptr(role)}, err: domain.ErrValidation, fields: []string{"default_role_id"}},
		{name: "an empty patch changes nothing", given: []domain.Event{orgCreated}},
		{name: "unknown organization", patch: domain.SettingsPatch{Language: ptr("de")}, err: domain.ErrOrganizationNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := given(&domain.Organization{}, tt.given...)
			got, err := o.ChangeSettings(tt.patch)
			then(t, got, err, tt.want, tt.err)
			if tt.fields != nil && !reflect.DeepEqual(fieldsOf(err), tt.fields) {
				t.Fatalf("fields %v, want %v", fieldsOf(err), tt.fields)
			}
		})
	}
}

func TestSignupPolicyAndAutoInvite(t *testing.T) {
	s := domain.DefaultSettings()
	if s.SignupAllowed("a@x.test", true) {
		t.Fatal("closed portal allowed a sign-up")
	}
	s.SignupPolicy = domain.SignupPreviousRequesters
	if s.SignupAllowed("a@x.test", false) || !s.SignupAllowed("a@x.test", true) {
		t.Fatal("previous_requesters policy misapplied")
	}
	s.SignupPolicy, s.AllowedDomains = domain.SignupAllowedDomains, []string{"globex.test"}
	if !s.SignupAllowed("a@globex.test", false) || s.SignupAllowed("a@evil.test", true) {
		t.Fatal("allowed_domains policy misapplied")
	}
	s.AutoInviteDepartments = []string{"sales"}
	if !s.AutoInvites("sales") || s.AutoInvites("billing") {
		t.Fatal("auto-invite department list misapplied")
	}
	s.AutoInviteDepartments = []string{"*"}
	if !s.AutoInvites("billing") {
		t.Fatal(`"*" must auto-invite for every department`)
	}
}

func TestRolesAndTokens(t *testing.T) {
	t.Run("creates a role", func(t *testing.T) {
		got, err := given(&domain.Organization{}, orgCreated).CreateRole(role, " Super user ", domain.Permissions{"manage_users": true})
		then(t, got, err, []domain.Event{roleCreated}, nil)
	})
	t.Run("refuses an unknown permission", func(t *testing.T) {
		_, err := given(&domain.Organization{}, orgCreated).CreateRole(role, "R", domain.Permissions{"fly": true})
		if !reflect.DeepEqual(fieldsOf(err), []string{"permissions.fly"}) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("refuses a taken name", func(t *testing.T) {
		got, err := given(&domain.Organization{}, orgCreated, roleCreated).CreateRole("r2", "Super user", nil)
		then(t, got, err, nil, domain.ErrRoleNameTaken)
	})
	t.Run("changes a role's permissions", func(t *testing.T) {
		got, err := given(&domain.Organization{}, orgCreated, roleCreated).ChangeRole(role, nil, domain.Permissions{"close_tickets": true})
		then(t, got, err, []domain.Event{domain.RoleChanged{RoleID: role, Name: "Super user", Permissions: domain.Permissions{"close_tickets": true}}}, nil)
	})
	t.Run("changing an unknown role", func(t *testing.T) {
		got, err := given(&domain.Organization{}, orgCreated).ChangeRole(role, ptr("x"), nil)
		then(t, got, err, nil, domain.ErrRoleNotFound)
	})
	t.Run("issues and revokes a token", func(t *testing.T) {
		o := given(&domain.Organization{}, orgCreated)
		got, err := o.IssueToken("t2", "helpdesk bot", domain.StaffAgent, "h")
		then(t, got, err, []domain.Event{domain.StaffTokenIssued{TokenID: "t2", Name: "helpdesk bot", Role: domain.StaffAgent, TokenHash: "h"}}, nil)
		o.Apply(got[0])
		got, err = o.RevokeToken("t2")
		then(t, got, err, []domain.Event{domain.StaffTokenRevoked{TokenID: "t2"}}, nil)
		o.Apply(got[0])
		got, err = o.RevokeToken("t2")
		then(t, got, err, nil, nil)
	})
	t.Run("a token needs a known role", func(t *testing.T) {
		_, err := given(&domain.Organization{}, orgCreated).IssueToken("t", "x", "root", "h")
		if !reflect.DeepEqual(fieldsOf(err), []string{"role"}) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestCompanyEdits(t *testing.T) {
	parent := given(&domain.Company{}, domain.CompanyCreated{CompanyID: "p", OrgID: org, Name: "Parent"})
	child := given(&domain.Company{}, domain.CompanyCreated{CompanyID: "c", OrgID: org, Name: "Child", ParentID: company})
	t.Run("moves under a parent and renames", func(t *testing.T) {
		got, err := given(&domain.Company{}, companyCreated).Update(domain.CompanyPatch{Name: ptr("Globex Corp"), ParentID: ptr(domain.CompanyID("p")), Ancestors: []*domain.Company{parent}})
		then(t, got, err, []domain.Event{domain.CompanyUpdated{Name: "Globex Corp", ParentID: "p", Changed: []string{"name", "parent_id"}}}, nil)
	})
	t.Run("refuses a cycle", func(t *testing.T) {
		self := given(&domain.Company{}, companyCreated)
		_, err := self.Update(domain.CompanyPatch{ParentID: ptr(domain.CompanyID("c")), Ancestors: []*domain.Company{child, self}})
		if !reflect.DeepEqual(fieldsOf(err), []string{"parent_id"}) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("refuses itself as parent", func(t *testing.T) {
		self := given(&domain.Company{}, companyCreated)
		_, err := self.Update(domain.CompanyPatch{ParentID: ptr(company), Ancestors: []*domain.Company{self}})
		if !reflect.DeepEqual(fieldsOf(err), []string{"parent_id"}) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("sets company-level permissions once", func(t *testing.T) {
		c := given(&domain.Company{}, companyCreated)
		got, err := c.SetPermissions(domain.Permissions{"see_agents": true})
		then(t, got, err, []domain.Event{domain.CompanyPermissionsSet{Permissions: domain.Permissions{"see_agents": true}}}, nil)
		c.Apply(got[0])
		got, err = c.SetPermissions(domain.Permissions{"see_agents": true})
		then(t, got, err, nil, nil)
	})
}

func TestEffectivePermissionsPrecedence(t *testing.T) {
	role := domain.Permissions{"view_tags": true, "close_tickets": true, "manage_users": true}
	company := domain.Permissions{"close_tickets": false, "see_agents": true}
	user := domain.Permissions{"manage_users": false, "see_agents": false, "portal_access": false}
	eff := domain.EffectivePermissions(role, company, user)
	want := map[domain.Permission]bool{
		"portal_access": false, // user override beats the default
		"view_tags":     true,  // from the role
		"close_tickets": false, // company beats role
		"see_agents":    false, // user beats company
		"manage_users":  false, // user beats role
		"edit_tags":     false, // nobody said: default
	}
	for p, w := range want {
		if eff[p] != w {
			t.Errorf("%s = %v, want %v", p, eff[p], w)
		}
	}
	if len(eff) != len(domain.AllPermissions) {
		t.Fatalf("%d permissions, want all %d", len(eff), len(domain.AllPermissions))
	}
	if !domain.EffectivePermissions(nil, nil, nil)[domain.PermPortalAccess] {
		t.Fatal("portal_access must default to allowed")
	}
}

func TestUserLifecycleDecisions(t *testing.T) {
	removed := append(append([]domain.Event{}, activeUser...), domain.UserRemoved{})
	deactivated := append(append([]domain.Event{}, activeUser...), domain.UserDeactivated{Reason: "left"})
	noAccess := userCreated
	noAccess.PortalAccess = false
	noEmail := noAccess
	noEmail.Email = ""
	tests := []struct {
		name   string
		given  []domain.Event
		decide func(u *domain.User) ([]domain.Event, error)
		want   []domain.Event
		err    error
		status domain.UserStatus
	}{
		{"grant access to an added user", []domain.Event{noAccess}, (*domain.User).GrantPortalAccess, []domain.Event{domain.PortalAccessGranted{}}, nil, domain.StatusAccessGranted},
		{"granting twice changes nothing", []domain.Event{userCreated}, (*domain.User).GrantPortalAccess, nil, nil, domain.StatusAccessGranted},
		{"no access without an email", []domain.Event{noEmail}, (*domain.User).GrantPortalAccess, nil, domain.ErrNoEmail, ""},
		{"revoking access kills the pending link", []domain.Event{userCreated, invited},
			func(u *domain.User) ([]domain.Event, error) { return u.RevokePortalAccess("") },
			[]domain.Event{domain.InvitationRevoked{InvitationID: inv1, Reason: "access_revoked"}, domain.PortalAccessRevoked{}}, nil, domain.StatusAdded},
		{"deactivate an active user", activeUser, func(u *domain.User) ([]domain.Event, error) { return u.Deactivate("left") },
			[]domain.Event{domain.UserDeactivated{Reason: "left"}}, nil, domain.StatusDeactivated},
		{"reactivate restores the account", deactivated, func(u *domain.User) ([]domain.Event, error) { return u.Reactivate("back") },
			[]domain.Event{domain.UserReactivated{Reason: "back"}}, nil, domain.StatusActive},
		{"remove kills the pending link", []domain.Event{userCreated, invited}, func(u *domain.User) ([]domain.Event, error) { return u.Remove("") },
			[]domain.Event{domain.InvitationRevoked{InvitationID: inv1, Reason: "removed"}, domain.UserRemoved{}}, nil, domain.StatusRemoved},
		{"removing twice changes nothing", removed, func(u *domain.User) ([]domain.Event, error) { return u.Remove("") }, nil, nil, domain.StatusRemoved},
		{"inviting a removed user", removed, func(u *domain.User) ([]domain.Event, error) { return u.Invite(now, inv2, "h", "", time.Hour) }, nil, domain.ErrUserRemoved, ""},
		{"inviting a deactivated user", []domain.Event{userCreated, domain.UserDeactivated{}}, func(u *domain.User) ([]domain.Event, error) { return u.Invite(now, inv2, "h", "", time.Hour) }, nil, domain.ErrUserDeactivated, ""},
		{"deactivating a removed user", removed, func(u *domain.User) ([]domain.Event, error) { return u.Deactivate("") }, nil, domain.ErrUserRemoved, ""},
		{"editing a removed user", removed, func(u *domain.User) ([]domain.Event, error) { return u.Update(domain.UserPatch{FirstName: ptr("X")}) }, nil, domain.ErrUserRemoved, ""},
		{"accepting after deactivation", []domain.Event{userCreated, invited, domain.UserDeactivated{}}, func(u *domain.User) ([]domain.Event, error) { return u.AcceptInvitation(now, inv1, "ph") }, nil, domain.ErrUserDeactivated, ""},
		{"edit names without any invitation", []domain.Event{userCreated}, func(u *domain.User) ([]domain.Event, error) {
			return u.Update(domain.UserPatch{FirstName: ptr("Augusta"), Email: ptr("ADA@globex.test")})
		}, []domain.Event{domain.UserUpdated{FirstName: "Augusta", LastName: "Lovelace", Changed: []string{"first_name"}}}, nil, domain.StatusAccessGranted},
		{"change email and role", []domain.Event{userCreated}, func(u *domain.User) ([]domain.Event, error) {
			r := domain.Role{ID: role}
			return u.Update(domain.UserPatch{Email: ptr("augusta@globex.test"), RoleID: ptr(role), Role: &r, Permissions: domain.Permissions{"see_agents": true}})
		}, []domain.Event{domain.UserEmailChanged{Email: "augusta@globex.test", Previous: "ada@globex.test"}, domain.UserRoleChanged{RoleID: role},
			domain.UserPermissionsSet{Permissions: domain.Permissions{"see_agents": true}}}, nil, domain.StatusAccessGranted},
		{"an unknown role", []domain.Event{userCreated}, func(u *domain.User) ([]domain.Event, error) {
			return u.Update(domain.UserPatch{RoleID: ptr(role)})
		}, nil, domain.ErrValidation, ""},
		{"moving to another company withdraws access (added, not activated)", activeUser, func(u *domain.User) ([]domain.Event, error) {
			other := given(&domain.Company{}, domain.CompanyCreated{CompanyID: "other", OrgID: org, Name: "Initech"})
			return u.Update(domain.UserPatch{CompanyID: ptr(domain.CompanyID("other")), Company: other})
		}, []domain.Event{domain.UserMovedToCompany{CompanyID: "other", Previous: company}, domain.PortalAccessRevoked{Reason: "moved_company"}}, nil, domain.StatusAdded},
		{"a portal user needs an email", []domain.Event{userCreated}, func(u *domain.User) ([]domain.Event, error) {
			return u.Update(domain.UserPatch{Email: ptr("")})
		}, nil, domain.ErrValidation, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := given(&domain.User{}, tt.given...)
			got, err := tt.decide(u)
			then(t, got, err, tt.want, tt.err)
			if tt.status != "" {
				for _, e := range got {
					u.Apply(e)
				}
				if u.Status() != tt.status {
					t.Fatalf("status %s, want %s", u.Status(), tt.status)
				}
			}
		})
	}
}

func TestSignUp(t *testing.T) {
	got, err := (&domain.User{}).SignUp(domain.NewUser{ID: user, OrgID: org, FirstName: "Ada", LastName: "Lovelace", Email: "ada@globex.test"}, "ph")
	want := []domain.Event{
		domain.UserCreated{UserID: user, OrgID: org, FirstName: "Ada", LastName: "Lovelace", Email: "ada@globex.test", PortalAccess: true},
		domain.UserSignedUp{}, domain.PasswordSet{PasswordHash: "ph"},
	}
	then(t, got, err, want, nil)
	u := given(&domain.User{}, got...)
	if u.Status() != domain.StatusActive || !u.CanLogIn() {
		t.Fatalf("signed-up user: %s", u.Status())
	}
	_, err = (&domain.User{}).SignUp(domain.NewUser{ID: user, OrgID: org, FirstName: "Ada", LastName: "L"}, "ph")
	if !reflect.DeepEqual(fieldsOf(err), []string{"email"}) {
		t.Fatalf("sign-up without email: %v", err)
	}
}

func TestRecordTicket(t *testing.T) {
	valid := domain.NewTicket{OrgID: org, TicketID: "T-1", RequesterEmail: "Asker@X.test", RequesterName: "Ann", Department: "support"}
	created := domain.TicketCreated{TicketID: "T-1", RequesterEmail: "asker@x.test", RequesterName: "Ann", Department: "support"}
	got, err := (&domain.Ticket{}).Record(valid)
	then(t, got, err, []domain.Event{created}, nil)
	got, err = given(&domain.Ticket{}, created).Record(valid)
	then(t, got, err, nil, nil) // a repeat is recorded once
	_, err = (&domain.Ticket{}).Record(domain.NewTicket{OrgID: org, CompanyID: "c"})
	if !reflect.DeepEqual(fieldsOf(err), []string{"ticket_id", "requester_email", "department", "company_id"}) {
		t.Fatalf("fields %v", fieldsOf(err))
	}
}

func TestChangePassword(t *testing.T) {
	tests := []struct {
		name  string
		given []domain.Event
		want  []domain.Event
		err   error
	}{
		{name: "an active account gets the new password", given: activeUser,
			want: []domain.Event{domain.PasswordSet{PasswordHash: "new"}}},
		{name: "an invited person without an account has no password to change", given: []domain.Event{userCreated, invited},
			err: domain.ErrLoginRefused},
		{name: "a deactivated account may not", given: append(append([]domain.Event{}, activeUser...), domain.UserDeactivated{}),
			err: domain.ErrLoginRefused},
		{name: "unknown user", err: domain.ErrLoginRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := given(&domain.User{}, tt.given...)
			got, err := u.ChangePassword("new")
			then(t, got, err, tt.want, tt.err)
		})
	}
}

// Given a user created under one address who changed it twice, back to
// the first once, the user has had each address once, the current one
// last; copies of the user (as a cache shares them) that change further
// do not write into each other's addresses.
func TestUserAddressesAreEveryAddressTheyHaveHad(t *testing.T) {
	u := given(&domain.User{}, domain.UserCreated{UserID: user, OrgID: org, FirstName: "Ada", LastName: "L", Email: "ada@globex.test"},
		domain.UserEmailChanged{Email: "augusta@globex.test", Previous: "ada@globex.test"},
		domain.UserEmailChanged{Email: "ada@globex.test", Previous: "augusta@globex.test"},
		domain.UserEmailChanged{Email: "lovelace@globex.test", Previous: "ada@globex.test"})
	if want := []string{"ada@globex.test", "augusta@globex.test", "lovelace@globex.test"}; !reflect.DeepEqual(u.Addresses, want) {
		t.Fatalf("addresses %v, want %v", u.Addresses, want)
	}
	shared := *u
	given(u, domain.UserEmailChanged{Email: "one@globex.test", Previous: "lovelace@globex.test"})
	given(&shared, domain.UserEmailChanged{Email: "two@globex.test", Previous: "lovelace@globex.test"})
	if u.Addresses[3] != "one@globex.test" || shared.Addresses[3] != "two@globex.test" {
		t.Fatalf("copies wrote into each other: %v and %v", u.Addresses, shared.Addresses)
	}
}
