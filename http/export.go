package http

import (
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"gatehouse/domain"
	"gatehouse/projections"
)

const maxExportIDs = 10000

// exportUsers streams users as CSV: the ids given, or the list filters.
func (s *Server) exportUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var sel projections.ExportSelection
	var v domain.Validation
	if raw := strings.TrimSpace(q.Get("ids")); raw != "" {
		for _, id := range strings.Split(raw, ",") {
			id = strings.TrimSpace(id)
			if !domain.ValidID(id) {
				v.Add("ids", "must be comma-separated user ids")
				break
			}
			sel.IDs = append(sel.IDs, domain.UserID(id))
		}
		if len(sel.IDs) > maxExportIDs {
			v.Add("ids", "at most 10000 ids; use the filters for more")
		}
	}
	sel.Filter = projections.UserFilter{Status: domain.UserStatus(q.Get("status")), CompanyID: domain.CompanyID(q.Get("company_id")), Query: q.Get("q")}
	if sel.Filter.Status != "" && !knownStatuses[sel.Filter.Status] {
		v.Add("status", "must be one of added, access_granted, invited, active, deactivated, removed")
	}
	if sel.Filter.CompanyID != "" && !domain.ValidID(string(sel.Filter.CompanyID)) {
		v.Add("company_id", "must be a company id")
	}
	if err := v.Err(); err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="users.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	n, err := s.users.WriteCSV(r.Context(), w, staffIdentity(r).Org, sel)
	if err != nil {
		// The header is out: all that is left is to cut the stream short,
		// so the client sees a broken download rather than a short file.
		zerolog.Ctx(r.Context()).Error().Err(err).Int("rows", n).Msg("export failed mid-stream")
		panic(http.ErrAbortHandler)
	}
}
