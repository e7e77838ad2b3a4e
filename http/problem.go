package http

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Code      string              `json:"code,omitempty"`
	Errors    []domain.FieldError `json:"errors,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
}

func problemType(code string) string { return "urn:gatehouse:problem:" + code }

var kindStatus = map[domain.ErrorKind]int{
	domain.KindInvalid:            http.StatusUnprocessableEntity,
	domain.KindConflict:           http.StatusConflict,
	domain.KindNotFound:           http.StatusNotFound,
	domain.KindForbidden:          http.StatusForbidden,
	domain.KindGone:               http.StatusGone,
	domain.KindUnauthenticated:    http.StatusUnauthorized,
	domain.KindPreconditionFailed: http.StatusPreconditionFailed,
	domain.KindTooManyRequests:    http.StatusTooManyRequests,
}

// requestError is a caller's mistake found before any command runs
// (malformed JSON, a bad header): it carries its own status.
type requestError struct {
	status int
	code   string
	detail string
	fields []domain.FieldError
}

func (e *requestError) Error() string { return e.detail }

func badRequest(code, detail string) error {
	return &requestError{status: http.StatusBadRequest, code: code, detail: detail}
}

// writeError maps an error to a problem response. This is the one place
// where error kinds become HTTP statuses; anything unknown is a 500 whose
// body says nothing internal and whose log line carries the request id.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := Problem{RequestID: requestIDFrom(r.Context())}
	var de *domain.Error
	var re *requestError
	switch {
	case errors.As(err, &re):
		p.Status, p.Code, p.Detail, p.Errors = re.status, re.code, re.detail, re.fields
	case errors.As(err, &de):
		p.Status, p.Code, p.Detail, p.Errors = kindStatus[de.Kind], de.Code, de.Message, de.Fields
		writeRetryAfter(w, err)
		if p.Status == 0 {
			p.Status = http.StatusInternalServerError
		}
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		p.Status, p.Code, p.Detail = 499, "client_closed_request", "the request was cancelled"
	case eventstore.Unavailable(err):
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("database unavailable")
		w.Header().Set("Retry-After", "1")
		p.Status, p.Code, p.Detail = http.StatusServiceUnavailable, "unavailable", "the service cannot reach its database right now; retry shortly (with the same Idempotency-Key for commands)"
	default:
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("request failed")
		p.Status, p.Code, p.Detail = http.StatusInternalServerError, "internal_error", "something went wrong on our side; the request id identifies it in our logs"
	}
	if errors.Is(err, commands.ErrUnauthenticated) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	}
	p.Type = problemType(p.Code)
	p.Title = http.StatusText(p.Status)
	if p.Title == "" {
		p.Title = "Client Closed Request"
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// notFound answers 404 for routes and ids that resolve to nothing.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, &requestError{status: http.StatusNotFound, code: "not_found", detail: "nothing here"})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, &requestError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", detail: "this resource does not answer " + r.Method})
}

// writeRetryAfter tells the caller when to come back after an error that
// says so (a login back-off).
func writeRetryAfter(w http.ResponseWriter, err error) {
	var de *domain.Error
	if errors.As(err, &de) && de.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(de.RetryAfter.Seconds()))))
	}
}
