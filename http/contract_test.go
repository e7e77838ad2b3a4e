package http_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"

	gatehttp "gatehouse/http"
)

// contract checks every request and response of the HTTP test suite
// against the OpenAPI document: a route missing from the document, a
// response that breaks its schema, or an invalid request answered with
// success all fail the test that made them.
type contract struct {
	t      testing.TB
	router routers.Router
}

var registerHTML sync.Once

func newContract(t testing.TB) *contract {
	registerHTML.Do(func() {
		text := func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		}
		openapi3filter.RegisterBodyDecoder("text/html", text)
		openapi3filter.RegisterBodyDecoder("text/css", text)
	})
	doc, err := gatehttp.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{t: t, router: router}
}

func (c *contract) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())

		check := r.Clone(context.Background())
		check.Body = io.NopCloser(bytes.NewReader(body))
		check.URL.Host, check.Host = "", ""
		route, params, err := c.router.FindRoute(check)
		if err != nil {
			if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
				c.t.Errorf("contract: %s %s answered %d but is not in the OpenAPI document: %v", r.Method, r.URL.Path, rec.Code, err)
			}
			return
		}
		opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
		in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: opts}
		if reqErr := openapi3filter.ValidateRequest(context.Background(), in); reqErr != nil && rec.Code < 400 {
			c.t.Errorf("contract: %s %s: request breaks the document (%v) but was answered %d", r.Method, route.Path, reqErr, rec.Code)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Options: opts}
		out.SetBodyBytes(rec.Body.Bytes())
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			c.t.Errorf("contract: %s %s answered %d, which breaks the document: %v\nbody: %.500s", r.Method, route.Path, rec.Code, err, rec.Body.String())
		}
	})
}

// Every route the router serves is in the document, with the same methods.
func TestEveryRouteIsDocumented(t *testing.T) {
	doc, err := gatehttp.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gatehttp.NewServer(gatehttp.Deps{}, gatehttp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = srv.Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil
		}
		item := doc.Paths.Find(path)
		for _, m := range methods {
			n++
			if item == nil || item.GetOperation(strings.ToUpper(m)) == nil {
				t.Errorf("%s %s is served but not documented", m, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 30 {
		t.Fatalf("walked only %d routes", n)
	}
	documented := 0
	for _, item := range doc.Paths.Map() {
		documented += len(item.Operations())
	}
	if documented != n {
		t.Errorf("%d operations documented, %d served", documented, n)
	}
}
