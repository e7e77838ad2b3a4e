// Package http is Gatehouse's HTTP adapter: the routes of the public API
// (gorilla/mux), staff and portal authentication, request logging, and the
// mapping of errors to RFC 9457 problem responses. Handlers decode and
// validate input, call a command handler or a read model, and encode the
// answer; no business rule lives here.
package http

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"gatehouse/commands"
	"gatehouse/domain"
	"gatehouse/projections"
)

// Config is what the HTTP adapter needs to know about its deployment.
type Config struct {
	// PublicURL is the base of links in answers and emails, without a trailing slash.
	PublicURL string
	// ExposeInviteLinks adds accept_url to invitation answers (development only).
	ExposeInviteLinks bool
	// MailEnabled says whether invitation emails are sent.
	MailEnabled bool
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// ReadYourWrites bounds how long a GET of one resource waits for the
	// read model to catch up with the caller's own write (default 2s).
	ReadYourWrites time.Duration
	// PortalRatePerMinute limits login, invitation accept, sign-up and
	// resend per client address (default 60 a minute, bursts of 20;
	// negative turns the limit off).
	PortalRatePerMinute int
	// CSRFKey (32 bytes) signs the CSRF tokens of the portal's forms. When
	// empty a random key is used, and forms rendered by another process
	// (a restart, another replica) are refused.
	CSRFKey []byte
}

// Server serves the API.
type Server struct {
	app     *commands.App
	users   *projections.Users
	decider AccessDecider
	ready   func(context.Context) error
	log     zerolog.Logger
	cfg     Config
	now     func() time.Time
	router  *mux.Router

	metrics     *httpMetrics
	limiter     *ipLimiter
	metricsPage http.Handler
	openapiJSON []byte
	openapiErr  error
	pages       *pages
}

// AccessDecider decides whether a user of org may enter the portal (found
// is false for no such user).
type AccessDecider interface {
	Access(ctx context.Context, org domain.OrgID, id domain.UserID) (d projections.Decision, found bool, err error)
}

// Deps are the server's collaborators.
type Deps struct {
	App   *commands.App
	Users *projections.Users
	// Access answers GET /access/{id}; Users when nil. A
	// projections.AccessCache keeps the answers between requests.
	Access AccessDecider
	// Ready reports whether the service can serve (database reachable,
	// schema current); /readyz answers 503 while it returns an error.
	Ready func(context.Context) error
	Log   zerolog.Logger
	Clock func() time.Time
	// Metrics is where the server registers its metrics and what /metrics
	// serves; a fresh registry when nil.
	Metrics *prometheus.Registry
}

// NewServer builds the router.
func NewServer(d Deps, cfg Config) (*Server, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.ReadYourWrites <= 0 {
		cfg.ReadYourWrites = 2 * time.Second
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = prometheus.NewRegistry()
	}
	if d.Access == nil {
		d.Access = d.Users
	}
	s := &Server{app: d.App, users: d.Users, decider: d.Access, ready: d.Ready, log: d.Log, cfg: cfg, now: d.Clock,
		metrics: newHTTPMetrics(d.Metrics), metricsPage: promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{})}
	s.openapiJSON, s.openapiErr = openAPIJSON()
	if cfg.PortalRatePerMinute == 0 {
		cfg.PortalRatePerMinute = 60
	}
	if cfg.PortalRatePerMinute > 0 {
		s.limiter = newIPLimiter(cfg.PortalRatePerMinute, 20)
	}
	pages, err := newPages(cfg.CSRFKey, strings.HasPrefix(cfg.PublicURL, "https://"), http.HandlerFunc(s.csrfRefused))
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.router = s.routes()
	return s, nil
}

// Handler is the complete HTTP handler.
func (s *Server) Handler() http.Handler { return s.observe(s.router) }

// Router exposes the route table (tests walk it).
func (s *Server) Router() *mux.Router { return s.router }

func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	r.Use(recordRoute)
	r.NotFoundHandler = http.HandlerFunc(notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(methodNotAllowed)

	handleFunc(r, "/healthz", s.healthz).Methods(http.MethodGet)
	handleFunc(r, "/readyz", s.readyz).Methods(http.MethodGet)
	handle(r, "/metrics", s.metricsPage).Methods(http.MethodGet)
	handleFunc(r, "/openapi.json", s.openAPI).Methods(http.MethodGet)

	// Staff routes are registered on the main router, each wrapped in the
	// authentication middleware, rather than on a subrouter: gorilla/mux
	// answers 404 instead of 405 for a method mismatch inside a subrouter.
	staff := func(method, path string, h http.HandlerFunc) {
		handle(r, "/v1/orgs/{org}"+path, s.authenticateStaff(h)).Methods(method)
	}
	// The access decision is asked on every page view of the helpdesk:
	// first in the table, since gorilla/mux tries routes in order (the
	// regular expressions of the routes before it were a fifth of its
	// CPU), and it checks the token itself, in the decision's query.
	handleFunc(r, "/v1/orgs/{org}/access/{user_id}", s.access).Methods(http.MethodGet)
	staff(http.MethodGet, "/portal", s.getPortal)
	staff(http.MethodPatch, "/portal", s.patchPortal)
	staff(http.MethodPost, "/portal/enable", s.enablePortal)
	staff(http.MethodPost, "/portal/disable", s.disablePortal)
	staff(http.MethodPost, "/tokens", s.createToken)
	staff(http.MethodDelete, "/tokens/{id}", s.revokeToken)
	staff(http.MethodGet, "/roles", s.listRoles)
	staff(http.MethodPost, "/roles", s.createRole)
	staff(http.MethodPatch, "/roles/{id}", s.patchRole)
	staff(http.MethodPost, "/companies", s.createCompany)
	staff(http.MethodGet, "/companies/{id}", s.getCompany)
	staff(http.MethodPatch, "/companies/{id}", s.patchCompany)
	staff(http.MethodPost, "/companies/{id}/portal/activate", s.activateCompanyPortal)
	staff(http.MethodPost, "/companies/{id}/portal/deactivate", s.deactivateCompanyPortal)
	staff(http.MethodPost, "/users", s.createUser)
	staff(http.MethodGet, "/users", s.listUsers)
	staff(http.MethodGet, "/users/export.csv", s.exportUsers) // before /users/{id}, which would match it
	staff(http.MethodGet, "/users/{id}", s.getUser)
	staff(http.MethodPatch, "/users/{id}", s.patchUser)
	staff(http.MethodDelete, "/users/{id}", s.userCommand(s.app.RemoveUser, http.StatusNoContent))
	staff(http.MethodPost, "/users/{id}/portal-access", s.grantPortalAccess)
	staff(http.MethodDelete, "/users/{id}/portal-access", s.revokePortalAccess)
	staff(http.MethodPost, "/users/{id}/deactivate", s.userCommand(s.app.DeactivateUser, http.StatusOK))
	staff(http.MethodPost, "/users/{id}/reactivate", s.userCommand(s.app.ReactivateUser, http.StatusOK))
	staff(http.MethodPost, "/users/{id}/invitations", s.inviteUser)
	staff(http.MethodPost, "/users/{id}/erase", s.eraseUser)
	staff(http.MethodPost, "/events/tickets", s.recordTicket)
	staff(http.MethodPost, "/events/orders", s.recordOrder)
	staff(http.MethodGet, "/users/{id}/history", s.userHistory)
	staff(http.MethodGet, "/audit/events", s.auditEvents)
	staff(http.MethodGet, "/audit/access", s.auditAccess)
	staff(http.MethodGet, "/audit/verify", s.auditVerify)
	staff(http.MethodGet, "/audit/head", s.auditHead)

	// The portal: JSON for API clients and, on the same URLs where they
	// share one, form posts from the server-rendered pages (formOr tells
	// them apart; forms are CSRF-checked).
	const portal = "/portal/{slug}"
	handleFunc(r, portal+"/invitations/resend", s.limited(s.formOr(s.resendForm, s.resendInvitation))).Methods(http.MethodPost)
	handleFunc(r, portal+"/invitations/{token}", s.page(s.invitationPage)).Methods(http.MethodGet)
	handleFunc(r, portal+"/invitations/{token}/accept", s.limited(s.formOr(s.acceptForm, s.acceptInvitation))).Methods(http.MethodPost)
	handleFunc(r, portal+"/signup", s.limited(s.formOr(s.signupForm, s.signup))).Methods(http.MethodPost)
	handleFunc(r, portal+"/login", s.limited(s.formOr(s.loginForm, s.login))).Methods(http.MethodPost)
	handleFunc(r, portal+"/logout", s.formOr(s.logoutForm, s.logout)).Methods(http.MethodPost)
	// Pages only.
	handleFunc(r, "/assets/portal.css", s.stylesheet).Methods(http.MethodGet)
	handleFunc(r, portal, s.page(s.portalRoot)).Methods(http.MethodGet)
	handleFunc(r, portal+"/login", s.page(s.loginPage)).Methods(http.MethodGet)
	handleFunc(r, portal+"/signup", s.page(s.signupPage)).Methods(http.MethodGet)
	handleFunc(r, portal+"/resend", s.page(s.resendPage)).Methods(http.MethodGet)
	handleFunc(r, portal+"/home", s.page(s.pageSession(s.homePage))).Methods(http.MethodGet)
	handleFunc(r, portal+"/company/users", s.page(s.managing(s.companyUsersPage))).Methods(http.MethodGet)
	handleFunc(r, portal+"/company/users", s.formPost(s.managing(s.inviteColleagueForm))).Methods(http.MethodPost)
	handleFunc(r, portal+"/company/users/{id}/edit", s.page(s.managing(s.editColleaguePage))).Methods(http.MethodGet)
	handleFunc(r, portal+"/company/users/{id}/edit", s.formPost(s.managing(s.editColleagueForm))).Methods(http.MethodPost)
	handleFunc(r, portal+"/company/users/{id}/remove", s.page(s.managing(s.removeColleaguePage))).Methods(http.MethodGet)
	handleFunc(r, portal+"/company/users/{id}/remove", s.formPost(s.managing(s.removeColleagueForm))).Methods(http.MethodPost)
	handle(r, portal+"/me", s.authenticatePortal(s.me)).Methods(http.MethodGet)
	handle(r, portal+"/me/password", s.limited(s.authenticatePortal(s.changePassword).ServeHTTP)).Methods(http.MethodPost)
	handle(r, portal+"/users", s.authenticatePortal(s.portalListUsers)).Methods(http.MethodGet)
	handle(r, portal+"/users", s.authenticatePortal(s.portalCreateUser)).Methods(http.MethodPost)
	handle(r, portal+"/users/{id}", s.authenticatePortal(s.portalPatchUser)).Methods(http.MethodPatch)
	handle(r, portal+"/users/{id}", s.authenticatePortal(s.portalRemoveUser)).Methods(http.MethodDelete)
	return r
}

// handle registers h for the path template on r, behind pathShape.
func handle(r *mux.Router, template string, h http.Handler) *mux.Route {
	return r.NewRoute().MatcherFunc(pathShape(template)).Path(template).Handler(h)
}

func handleFunc(r *mux.Router, template string, f func(http.ResponseWriter, *http.Request)) *mux.Route {
	return handle(r, template, http.HandlerFunc(f))
}

// pathShape is a test a request's path must pass to match template, made
// of string comparisons: as many segments, the same literal segments, and
// a non-empty segment for each variable. gorilla/mux tries its routes in
// order with a regular expression each, and those were 6-8 % of the
// server's CPU under POST /users (the 16th route); this matcher runs first
// and turns most of them down without the regular expression, which still
// decides (and extracts the variables) for the paths that pass. A
// template with a variable pattern of its own ({id:...}) is not
// prefiltered.
func pathShape(template string) mux.MatcherFunc {
	segments := strings.Split(template, "/")
	variable := make([]bool, len(segments))
	for i, seg := range segments {
		open, close := strings.IndexByte(seg, '{'), strings.IndexByte(seg, '}')
		switch {
		case open == 0 && close == len(seg)-1 && !strings.Contains(seg, ":"):
			variable[i] = true
		case open >= 0 || close >= 0:
			return func(*http.Request, *mux.RouteMatch) bool { return true }
		}
	}
	last := len(segments) - 1
	return func(req *http.Request, _ *mux.RouteMatch) bool {
		rest := req.URL.Path
		for i, want := range segments {
			seg := rest
			if j := strings.IndexByte(rest, '/'); i < last {
				if j < 0 {
					return false
				}
				seg, rest = rest[:j], rest[j+1:]
			} else if j >= 0 {
				return false
			}
			if variable[i] {
				if seg == "" {
					return false
				}
			} else if seg != want {
				return false
			}
		}
		return true
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("not ready")
		writeError(w, r, &requestError{status: http.StatusServiceUnavailable, code: "not_ready", detail: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
