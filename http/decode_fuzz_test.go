package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzDecode feeds arbitrary bodies to the strict JSON decoder of every
// command body: it must never panic, and every refusal must be a problem
// with a 4xx status that renders as RFC 9457 JSON.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"first_name":"Ada","last_name":"Lovelace","email":"ada@x.test","portal_access":true}`,
		`{"name":"Globex","parent_id":null,"properties":{"a":[1,2,{"b":null}]}}`,
		`{"password":"correct horse battery"}`, `{}`, ``, `[]`, `null`, `{"a":1}{"b":2}`, `{"first_name":3}`,
		`{"email":"\u0000"}`, `{"permissions":{"fly":true}}`, `{"templates":{"invitation":{"subject":"{{.X"}}}`,
		"\xff\xfe", `{"name":"` + string(bytes.Repeat([]byte("x"), 5000)) + `"}`,
	} {
		f.Add([]byte(seed))
	}
	targets := []func() any{
		func() any { return &createUserRequest{} }, func() any { return &createCompanyRequest{} },
		func() any { return &patchPortalRequest{} }, func() any { return &roleRequest{} },
		func() any { return &acceptRequest{} }, func() any { return &signupRequest{} },
		func() any { return &loginRequest{} }, func() any { return &ticketRequest{} }, func() any { return &orderRequest{} },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, target := range targets {
			r := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			r.Body = http.MaxBytesReader(w, r.Body, 4096)
			err := decode(r, target())
			if err == nil {
				continue
			}
			var re *requestError
			if !errors.As(err, &re) || re.status < 400 || re.status >= 500 {
				t.Fatalf("decode refused with %v, not a 4xx problem", err)
			}
			writeError(w, r, err)
			var p Problem
			if w.Code != re.status || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != re.status || p.Type == "" {
				t.Fatalf("problem for %v: %d %s", err, w.Code, w.Body.String())
			}
		}
	})
}
