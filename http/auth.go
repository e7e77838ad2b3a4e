package http

import (
	"context"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"gatehouse/commands"
	"gatehouse/domain"
)

// authenticateStaff resolves the bearer token and makes sure the
// organization in the path is the token's own. Another organization's id
// answers 404, exactly like an id that does not exist.
func (s *Server) authenticateStaff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok {
			writeError(w, r, commands.ErrUnauthenticated)
			return
		}
		id, err := s.app.AuthenticateStaff(r.Context(), token)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if org := mux.Vars(r)["org"]; org != string(id.Org) {
			notFound(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), staffKey, id)))
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != "" && len(token) <= 512
}

// meta describes the staff request as a command's metadata.
func (s *Server) meta(r *http.Request) (commands.Meta, error) {
	id, _ := r.Context().Value(staffKey).(commands.StaffIdentity)
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 || strings.ContainsFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
		return commands.Meta{}, badRequest("invalid_idempotency_key", "Idempotency-Key must be at most 255 printable ASCII characters")
	}
	return commands.Meta{
		Org: id.Org, Actor: id.Actor, Trigger: domain.TriggerManual,
		RequestID: requestIDFrom(r.Context()), CorrelationID: correlationIDFrom(r.Context()),
		IdempotencyKey: key,
	}, nil
}
