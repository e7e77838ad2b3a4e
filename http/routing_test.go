package http_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	gatehttp "gatehouse/http"
)

// The server's routes, with the path prefilter in front of each, match
// every path and method exactly as plain gorilla/mux routes with the same
// templates do: the same route, the same variables, the same 404 or 405.
// The paths tried are every route's own, and each one bent: a segment
// more or less, a trailing slash, an empty variable, each literal segment
// changed.
func TestRoutesMatchAsPlainMuxRoutes(t *testing.T) {
	srv, err := gatehttp.NewServer(gatehttp.Deps{}, gatehttp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	plain := mux.NewRouter()
	// As the server's router: a 404 and a 405 handler (Match is true then).
	plain.NotFoundHandler, plain.MethodNotAllowedHandler = http.NotFoundHandler(), http.NotFoundHandler()
	var templates []string
	err = srv.Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil
		}
		plain.Path(tpl).Methods(methods...)
		templates = append(templates, tpl)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	variable := regexp.MustCompile(`\{[^}]+\}`)
	var paths []string
	for _, tpl := range templates {
		path := variable.ReplaceAllString(tpl, "v1a")
		paths = append(paths, path, path+"/extra", path+"/", path[:strings.LastIndexByte(path, '/')],
			variable.ReplaceAllString(tpl, ""), variable.ReplaceAllString(tpl, "users"))
		segments := strings.Split(tpl, "/")
		for i, seg := range segments {
			if seg == "" || variable.MatchString(seg) {
				continue
			}
			bent := append([]string(nil), segments...)
			bent[i] = seg + "x"
			paths = append(paths, variable.ReplaceAllString(strings.Join(bent, "/"), "v1a"))
		}
	}
	compared := 0
	for _, path := range paths {
		for _, method := range []string{"GET", "POST", "PATCH", "DELETE", "PUT"} {
			req := httptest.NewRequest(method, "http://gatehouse.test"+path, nil)
			var got, want mux.RouteMatch
			gotOK, wantOK := srv.Router().Match(req, &got), plain.Match(req, &want)
			if gotOK != wantOK || got.MatchErr != want.MatchErr || template(got.Route) != template(want.Route) || !sameVars(got.Vars, want.Vars) {
				t.Errorf("%s %s: matched %v %q %v (%v), plain mux %v %q %v (%v)", method, path,
					gotOK, template(got.Route), got.Vars, got.MatchErr, wantOK, template(want.Route), want.Vars, want.MatchErr)
			}
			compared++
		}
	}
	if len(templates) < 30 || compared < 1000 {
		t.Fatalf("compared %d requests over %d routes", compared, len(templates))
	}
}

func template(r *mux.Route) string {
	if r == nil {
		return ""
	}
	tpl, _ := r.GetPathTemplate()
	methods, _ := r.GetMethods()
	return strings.Join(methods, ",") + " " + tpl
}

func sameVars(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// go test -run '^$' -bench RouteMatch ./http
func BenchmarkRouteMatch(b *testing.B) {
	srv, err := gatehttp.NewServer(gatehttp.Deps{}, gatehttp.Config{})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("POST", "http://gatehouse.test/v1/orgs/0b6a4c2e-7d7e-4c8f-9a55-0c1e6f3f4b11/users", nil)
	for b.Loop() {
		var m mux.RouteMatch
		if !srv.Router().Match(req, &m) || m.Route == nil {
			b.Fatal("POST /users not matched")
		}
	}
}
