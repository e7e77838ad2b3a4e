package http

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"gatehouse/domain"
	"gatehouse/eventstore"
	"gatehouse/projections"
)

func (s *Server) store() *eventstore.Store { return s.users.Store() }

func (s *Server) userHistory(w http.ResponseWriter, r *http.Request) {
	items, found, err := projections.UserHistory(r.Context(), s.store(), staffIdentity(r).Org, domain.UserID(mux.Vars(r)["id"]))
	if err != nil {
		writeError(w, r, err)
		return
	}
	if !found {
		writeError(w, r, domain.ErrUserNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) auditEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var v domain.Validation
	var from int64
	if raw := q.Get("from_position"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			v.Add("from_position", "must be a position (a whole number, 0 for the start)")
		}
		from = n
	}
	limit := 100
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 1000 {
			v.Add("limit", "must be a whole number from 1 to 1000")
		}
		limit = n
	}
	var types []string
	if raw := strings.TrimSpace(q.Get("type")); raw != "" {
		types = strings.Split(raw, ",")
	}
	if err := v.Err(); err != nil {
		writeError(w, r, err)
		return
	}
	items, last, err := projections.AuditEvents(r.Context(), s.store(), staffIdentity(r).Org, from, limit, types)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var next *int64
	if len(items) == limit {
		next = &last
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_position": next})
}

func (s *Server) auditAccess(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var v domain.Validation
	at, err := time.Parse(time.RFC3339Nano, q.Get("at"))
	if err != nil {
		v.Add("at", "must be an RFC 3339 time, such as 2026-11-24T12:00:00Z")
	}
	user := domain.UserID(q.Get("user_id"))
	if user != "" && !domain.ValidID(string(user)) {
		v.Add("user_id", "must be a user id")
	}
	if err := v.Err(); err != nil {
		writeError(w, r, err)
		return
	}
	items, err := projections.AccessAtAnswer(r.Context(), s.store(), staffIdentity(r).Org, at, user)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"at": at.UTC(), "items": items})
}

func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request) {
	res, err := projections.Verify(r.Context(), s.store(), staffIdentity(r).Org)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) auditHead(w http.ResponseWriter, r *http.Request) {
	h, err := projections.Head(r.Context(), s.store().Pool(), staffIdentity(r).Org)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}
