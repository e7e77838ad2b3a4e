package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	gatehttp "gatehouse/http"
)

// identity is a way of calling the API.
type identity struct {
	name  string
	token func(f *matrixFixture) string
}

// matrixFixture is one organization with every kind of caller, and ids to
// put in paths.
type matrixFixture struct {
	h                                   *harness
	a, b                                *org
	agent, revoked                      string
	plainSession, managerSession, other string
	otherCompanyUser, company, role     string
	user, spareToken                    string
}

func newMatrixFixture(t *testing.T) *matrixFixture {
	h := newHarness(t)
	f := &matrixFixture{h: h, a: h.newOrg("alpha"), b: h.newOrg("beta")}
	f.company = f.a.setup()
	f.b.setup()
	otherCompany := f.a.staff("POST", "/companies", map[string]any{"name": "Initech"}).json(t)["id"].(string)
	f.a.staff("POST", "/companies/"+otherCompany+"/portal/activate", nil)
	f.role = f.a.staff("POST", "/roles", map[string]any{"name": "Manager", "permissions": map[string]bool{"manage_users": true}}).json(t)["id"].(string)
	f.agent = f.a.newToken("agent")
	r := f.a.staff("POST", "/tokens", map[string]any{"name": "gone", "role": "admin"})
	f.revoked = r.json(t)["token"].(string)
	f.a.staff("DELETE", "/tokens/"+r.json(t)["id"].(string), nil)
	f.spareToken = f.a.staff("POST", "/tokens", map[string]any{"name": "spare", "role": "agent"}).json(t)["id"].(string)
	f.a.activeUser(f.company, "plain@globex.test", nil)
	f.a.activeUser(f.company, "manager@globex.test", map[string]any{"role_id": f.role})
	f.otherCompanyUser = f.a.activeUser(otherCompany, "other@initech.test", map[string]any{"role_id": f.role})
	f.user = f.a.createUser(f.company, "target@globex.test")
	f.plainSession = f.a.session("plain@globex.test")
	f.managerSession = f.a.session("manager@globex.test")
	f.other = f.a.session("other@initech.test")
	return f
}

var identities = []identity{
	{"none", func(*matrixFixture) string { return "" }},
	{"malformed token", func(*matrixFixture) string { return "not a token at all" }},
	{"revoked token", func(f *matrixFixture) string { return f.revoked }},
	{"other organization's admin", func(f *matrixFixture) string { return f.b.token }},
	{"agent", func(f *matrixFixture) string { return f.agent }},
	{"admin", func(f *matrixFixture) string { return f.a.token }},
	{"portal user without manage_users", func(f *matrixFixture) string { return f.plainSession }},
	{"portal user with manage_users", func(f *matrixFixture) string { return f.managerSession }},
	{"portal user of another company", func(f *matrixFixture) string { return f.other }},
}

// adminOnly are the staff routes an agent may not use.
var adminOnly = map[string]bool{
	"PATCH /v1/orgs/{org}/portal": true, "POST /v1/orgs/{org}/portal/enable": true, "POST /v1/orgs/{org}/portal/disable": true,
	"POST /v1/orgs/{org}/tokens": true, "DELETE /v1/orgs/{org}/tokens/{id}": true, "POST /v1/orgs/{org}/roles": true,
	"PATCH /v1/orgs/{org}/roles/{id}": true, "POST /v1/orgs/{org}/users/{id}/erase": true,
}

// expected is the rule the matrix checks: "2xx" means allowed (any answer
// but 401, 403 and 5xx; validation may still refuse the empty body).
func expected(route, who string) string {
	switch {
	case strings.HasPrefix(route, "GET /healthz"), strings.HasPrefix(route, "GET /readyz"), strings.HasPrefix(route, "GET /metrics"),
		strings.HasPrefix(route, "GET /openapi.json"):
		return "2xx"
	case strings.Contains(route, " /v1/orgs/"):
		switch who {
		case "none", "malformed token", "revoked token", "portal user without manage_users", "portal user with manage_users", "portal user of another company":
			return "401"
		case "other organization's admin":
			return "404"
		case "agent":
			if adminOnly[route] {
				return "403"
			}
		}
		return "2xx"
	case strings.Contains(route, " /portal/{slug}/me"), strings.Contains(route, " /portal/{slug}/users"):
		switch who {
		case "none", "malformed token", "revoked token", "other organization's admin", "agent", "admin":
			return "401"
		case "portal user without manage_users":
			if strings.Contains(route, "/me") { // their own account
				return "2xx"
			}
			return "403"
		case "portal user of another company":
			if strings.Contains(route, "{id}") {
				return "404" // the target is of another company: never revealed
			}
		}
		return "2xx"
	}
	if publicRoutes[route] {
		return "public" // no credentials involved
	}
	// The pages authenticate by the session cookie only and check CSRF on
	// every form: none of the identities here (bearer tokens) gets past
	// them. Cookie sessions and permissions on pages: pages_test.go.
	if strings.Contains(route, " /portal/{slug}/") && (strings.HasSuffix(route, "/home") || strings.Contains(route, "/company/users")) {
		if strings.HasPrefix(route, "POST ") {
			return "403"
		}
		return "303"
	}
	return "" // no rule: the test fails, so every new route gets one
}

// publicRoutes need no credentials: sign-up, login, logout, invitations.
var publicRoutes = map[string]bool{
	"POST /portal/{slug}/invitations/resend": true, "GET /portal/{slug}/invitations/{token}": true,
	"POST /portal/{slug}/invitations/{token}/accept": true, "POST /portal/{slug}/signup": true,
	"POST /portal/{slug}/login": true, "POST /portal/{slug}/logout": true,
	"GET /assets/portal.css": true, "GET /portal/{slug}": true, "GET /portal/{slug}/login": true,
	"GET /portal/{slug}/signup": true, "GET /portal/{slug}/resend": true,
}

// TestAuthorizationMatrix walks the router's route table, so a new route
// without a rule here fails: every route × every identity.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	routes := []string{}
	srv, err := gatehttp.NewServer(gatehttp.Deps{}, gatehttp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.Router().Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err1 := r.GetPathTemplate()
		methods, err2 := r.GetMethods()
		if err1 == nil && err2 == nil {
			for _, m := range methods {
				routes = append(routes, m+" "+path)
			}
		}
		return nil
	})
	for _, who := range identities {
		t.Run(who.name, func(t *testing.T) {
			t.Parallel()
			f := newMatrixFixture(t)
			token := who.token(f)
			for _, route := range routes {
				want := expected(route, who.name)
				if want == "" {
					t.Errorf("%s has no authorization rule in this test", route)
					continue
				}
				if want == "public" {
					continue
				}
				method, tmpl, _ := strings.Cut(route, " ")
				path := strings.NewReplacer("{org}", f.a.id, "{slug}", f.a.slug, "{user_id}", f.user).Replace(tmpl)
				switch {
				case strings.Contains(tmpl, "/companies/{id}"):
					path = strings.Replace(path, "{id}", f.company, 1)
				case strings.Contains(tmpl, "/roles/{id}"):
					path = strings.Replace(path, "{id}", f.role, 1)
				case strings.Contains(tmpl, "/tokens/{id}"):
					path = strings.Replace(path, "{id}", f.spareToken, 1)
				case strings.HasPrefix(tmpl, "/portal/{slug}/users/{id}") && who.name == "portal user of another company":
					path = strings.Replace(path, "{id}", f.user, 1)
				case strings.HasPrefix(tmpl, "/portal/{slug}/users/{id}"):
					path = strings.Replace(path, "{id}", f.user, 1)
				default:
					path = strings.Replace(path, "{id}", f.user, 1)
				}
				var body any
				if method == http.MethodPost || method == http.MethodPatch {
					body = map[string]any{}
				}
				r := f.h.do(method, path, token, body)
				ok := false
				switch want {
				case "2xx":
					ok = r.status != 401 && r.status != 403 && r.status < 500
				default:
					ok = fmt.Sprint(r.status) == want
				}
				if !ok {
					t.Errorf("%s as %s: %d, want %s: %s", route, who.name, r.status, want, r.body)
				}
			}
		})
	}
	t.Cleanup(func() { t.Logf("authorization matrix: %d routes × %d identities", len(routes), len(identities)) })
}
