package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
)

// ErrUnauthenticated refuses a missing, unknown or revoked credential.
var ErrUnauthenticated = &domain.Error{Kind: domain.KindUnauthenticated, Code: "unauthenticated", Message: "missing or invalid credentials"}

// StaffIdentity is who a staff API token belongs to.
type StaffIdentity struct {
	Org   domain.OrgID
	Actor domain.Actor
}

// AuthenticateStaff resolves a staff API token by its hash.
func (a *App) AuthenticateStaff(ctx context.Context, token string) (StaffIdentity, error) {
	if token == "" {
		return StaffIdentity{}, ErrUnauthenticated
	}
	hash := HashToken(token)
	now := time.Now()
	id, kept, gen := a.staffTokens.get(hash, now)
	if kept {
		return id, nil
	}
	var tokenID, name, role string
	err := a.pool.QueryRow(ctx, `SELECT org_id, token_id, name, role FROM staff_tokens WHERE token_hash = $1 AND NOT revoked`,
		hash).Scan(&id.Org, &tokenID, &name, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		return StaffIdentity{}, ErrUnauthenticated
	}
	if err != nil {
		return StaffIdentity{}, fmt.Errorf("look up staff token: %w", err)
	}
	id.Actor = domain.Actor{Kind: domain.ActorStaff, ID: tokenID, Name: name, Role: domain.StaffRole(role)}
	a.staffTokens.put(hash, id, gen, now)
	return id, nil
}

// ErrPortalNotFound answers for a slug that names no portal.
var ErrPortalNotFound = &domain.Error{Kind: domain.KindNotFound, Code: "portal_not_found", Message: "no such portal"}

// OrgBySlug resolves a portal's slug.
func (a *App) OrgBySlug(ctx context.Context, slug string) (domain.OrgID, error) {
	var org domain.OrgID
	err := a.pool.QueryRow(ctx, `SELECT org_id FROM org_slugs WHERE slug = $1`, slug).Scan(&org)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrPortalNotFound
	}
	if err != nil {
		return "", fmt.Errorf("look up portal %q: %w", slug, err)
	}
	return org, nil
}
