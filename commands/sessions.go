package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
)

// SessionLifetime is how long a portal session lasts.
const SessionLifetime = 12 * time.Hour

// Login back-off: after loginFreeFailures failed logins for an address,
// each further failure locks it for twice as long as the last, from
// loginFirstLock up to loginMaxLock.
const (
	loginFreeFailures = 5
	loginFirstLock    = 30 * time.Second
	loginMaxLock      = 15 * time.Minute
)

// Session is a portal login; Token is shown once and stored as a hash.
type Session struct {
	Token     string
	ExpiresAt time.Time
	User      PortalIdentity
}

// PortalIdentity is a logged-in portal user with what they may do.
type PortalIdentity struct {
	Org         domain.OrgID
	Slug        string
	User        UserResult
	Company     *CompanyResult
	Permissions domain.Permissions
}

// dummyHash is checked for a login with an unknown address, so that it
// costs as much as one with a known address and timing does not tell which
// addresses exist.
func (a *App) dummyHash() string {
	a.dummyOnce.Do(func() {
		h, err := a.hasher.Hash("no such account")
		if err == nil {
			a.dummy = h
		}
	})
	return a.dummy
}

// LogIn checks a portal user's password and opens a session.
func (a *App) LogIn(ctx context.Context, slug, email, password string) (Session, error) {
	org, err := a.OrgBySlug(ctx, slug)
	if err != nil {
		return Session{}, err
	}
	email = domain.NormalizeEmail(email)
	now := a.now()
	if err := a.refuseWhileLocked(ctx, org, email, now); err != nil {
		return Session{}, err
	}
	var userID domain.UserID
	err = a.pool.QueryRow(ctx, `SELECT user_id FROM email_reservations WHERE org_id = $1 AND email = $2`, string(org), email).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		_, _ = a.hasher.Verify(password, a.dummyHash())
		return Session{}, a.loginFailed(ctx, org, email, now)
	}
	if err != nil {
		return Session{}, fmt.Errorf("look up login: %w", err)
	}
	u, info, err := load[domain.User](ctx, a.store, userID.Stream())
	if err != nil {
		return Session{}, err
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = a.dummyHash()
	}
	ok, err := a.hasher.Verify(password, hash)
	if err != nil {
		return Session{}, err
	}
	if !ok || u.PasswordHash == "" {
		return Session{}, a.loginFailed(ctx, org, email, now)
	}
	id, err := a.portalIdentity(ctx, org, u, info)
	if err != nil {
		return Session{}, err
	}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM login_failures WHERE org_id = $1 AND email = $2`, string(org), email)
	return a.openSession(ctx, id, now, b)
}

// openSession stores a new session for id, together with whatever b
// holds already, and returns its token.
func (a *App) openSession(ctx context.Context, id PortalIdentity, now time.Time, b *pgx.Batch) (Session, error) {
	token, tokenHash, err := newSecret()
	if err != nil {
		return Session{}, err
	}
	expires := now.Add(SessionLifetime)
	b.Queue(`INSERT INTO portal_sessions (token_hash, org_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		tokenHash, string(id.Org), string(id.User.ID), now, expires)
	if err := a.pool.SendBatch(ctx, b).Close(); err != nil {
		return Session{}, fmt.Errorf("open session for %s: %w", id.User.ID, err)
	}
	return Session{Token: token, ExpiresAt: expires, User: id}, nil
}

// refuseWhileLocked answers too_many_attempts (with how long to wait)
// while the address is locked after failed logins.
func (a *App) refuseWhileLocked(ctx context.Context, org domain.OrgID, email string, now time.Time) error {
	wait, err := a.lockedFor(ctx, org, email, now)
	if err != nil || wait <= 0 {
		return err
	}
	e := *domain.ErrTooManyAttempts
	e.RetryAfter = wait
	return &e
}

func (a *App) lockedFor(ctx context.Context, org domain.OrgID, email string, now time.Time) (time.Duration, error) {
	var until *time.Time
	err := a.pool.QueryRow(ctx, `SELECT locked_until FROM login_failures WHERE org_id = $1 AND email = $2`, string(org), email).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (until == nil || !until.After(now))) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read login failures: %w", err)
	}
	return until.Sub(now), nil
}

// loginFailed counts a failure (locking the address when due) and returns
// the error the caller sees.
func (a *App) loginFailed(ctx context.Context, org domain.OrgID, email string, now time.Time) error {
	var failures int
	err := a.pool.QueryRow(ctx, `INSERT INTO login_failures (org_id, email, failures, updated_at) VALUES ($1, $2, 1, $3)
		ON CONFLICT (org_id, email) DO UPDATE SET failures = login_failures.failures + 1, updated_at = $3
		RETURNING failures`, string(org), email, now).Scan(&failures)
	if err != nil {
		return fmt.Errorf("count login failure: %w", err)
	}
	if failures < loginFreeFailures {
		return domain.ErrInvalidCredentials
	}
	lock := loginFirstLock << min(failures-loginFreeFailures, 10)
	lock = min(lock, loginMaxLock)
	if _, err := a.pool.Exec(ctx, `UPDATE login_failures SET locked_until = $3 WHERE org_id = $1 AND email = $2`, string(org), email, now.Add(lock)); err != nil {
		return fmt.Errorf("lock login: %w", err)
	}
	e := *domain.ErrTooManyAttempts
	e.RetryAfter = lock
	return &e
}

// portalIdentity checks that a user may be in the portal now (their own
// state, the portal switch, their company's portal) and works out their
// effective permissions.
func (a *App) portalIdentity(ctx context.Context, org domain.OrgID, u *domain.User, info streamInfo) (PortalIdentity, error) {
	if !u.CanLogIn() || u.OrgID != org {
		return PortalIdentity{}, domain.ErrLoginRefused
	}
	o, _, err := load[domain.Organization](ctx, a.store, org.Stream())
	if err != nil {
		return PortalIdentity{}, err
	}
	if !o.PortalEnabled {
		return PortalIdentity{}, domain.ErrPortalDisabled
	}
	id := PortalIdentity{Org: org, Slug: o.Slug, User: userResult(u, info, a.now())}
	var companyPerms domain.Permissions
	if u.CompanyID != "" {
		c, cinfo, err := load[domain.Company](ctx, a.store, u.CompanyID.Stream())
		if err != nil {
			return PortalIdentity{}, err
		}
		if !c.PortalActive {
			return PortalIdentity{}, domain.ErrCompanyPortalInactive
		}
		cr := companyResult(c, cinfo)
		id.Company = &cr
		companyPerms = c.Permissions
	}
	var rolePerms domain.Permissions
	if r, ok := o.Roles[u.RoleID]; ok {
		rolePerms = r.Permissions
	}
	id.Permissions = domain.EffectivePermissions(rolePerms, companyPerms, u.Permissions)
	if !id.Permissions[domain.PermPortalAccess] {
		return PortalIdentity{}, domain.ErrLoginRefused
	}
	return id, nil
}

// PortalSession resolves a session token presented to the portal at slug.
// Every request re-checks the user, the portal and the company, so a
// switch takes effect at once.
func (a *App) PortalSession(ctx context.Context, slug, token string) (PortalIdentity, error) {
	if token == "" {
		return PortalIdentity{}, ErrUnauthenticated
	}
	org, err := a.OrgBySlug(ctx, slug)
	if err != nil {
		return PortalIdentity{}, err
	}
	var userID domain.UserID
	err = a.pool.QueryRow(ctx, `SELECT user_id FROM portal_sessions WHERE token_hash = $1 AND org_id = $2
		AND revoked_at IS NULL AND expires_at > $3`, HashToken(token), string(org), a.now()).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return PortalIdentity{}, ErrUnauthenticated
	}
	if err != nil {
		return PortalIdentity{}, fmt.Errorf("look up session: %w", err)
	}
	u, info, err := load[domain.User](ctx, a.store, userID.Stream())
	if err != nil {
		return PortalIdentity{}, err
	}
	id, err := a.portalIdentity(ctx, org, u, info)
	if errors.Is(err, domain.ErrLoginRefused) {
		return PortalIdentity{}, ErrUnauthenticated
	}
	return id, err
}

// LogOut ends a session.
func (a *App) LogOut(ctx context.Context, token string) error {
	_, err := a.pool.Exec(ctx, `UPDATE portal_sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`, HashToken(token))
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
