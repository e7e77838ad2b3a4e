package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// Access is the read model of access intervals: who had portal access
// when, with which effective permissions. After each event it recomputes
// access for the users the event can affect (one user, a company's, a
// role's or an organization's) with the same rule as the domain
// (domain.EffectivePermissions, domain.AccessAllowed), closing and opening
// intervals at the event's time. GET /audit/access reads it; the replay
// (AccessAt) is the reference it is tested against.
type Access struct{}

// NewAccess returns the access-intervals read model.
func NewAccess() *Access { return &Access{} }

// Name is the consumer group.
func (*Access) Name() string { return "access" }

// Tables are the tables this read model owns.
func (*Access) Tables() []string {
	return []string{"access_orgs", "access_companies", "access_users", "access_intervals"}
}

// StreamPrefix: organizations, companies and users all matter.
func (*Access) StreamPrefix() string { return "" }

// basePermissions is the lowest layer of effective permissions as JSON.
func basePermissions() []byte {
	b, _ := json.Marshal(domain.EffectivePermissions(nil, nil, nil))
	return b
}

// recompute brings the open intervals of the users matched by where (a
// condition on access_users u, its parameters numbered from $3) in line
// with their access now, at time at. The users' effective permissions are
// the JSON merge base || role || company || user, in the domain's order,
// each layer overriding the keys it names. Two statements: first close
// (or, opened at this same instant, drop) the intervals that no longer
// hold, then open intervals for users with access and none open.
func recompute(ctx context.Context, tx pgx.Tx, at time.Time, where string, args ...any) error {
	cur := `WITH cur AS (
		SELECT u.user_id, u.org_id,
			u.status = 'active' AND o.enabled AND (u.company_id IS NULL OR coalesce(c.active, false)) AS ok,
			$2::jsonb || coalesce(o.roles -> u.role_id::text, '{}') || coalesce(c.perms, '{}') || u.perms AS eff
		FROM access_users u
		JOIN access_orgs o ON o.org_id = u.org_id
		LEFT JOIN access_companies c ON c.company_id = u.company_id
		WHERE ` + where + `
	), allowed AS (
		SELECT user_id, org_id, eff FROM cur WHERE ok AND (eff ->> 'portal_access')::boolean
	)`
	params := append([]any{at, basePermissions()}, args...)
	_, err := tx.Exec(ctx, cur+`, changed AS (
		SELECT a.user_id, a.valid_from FROM access_intervals a JOIN cur ON cur.user_id = a.user_id
		LEFT JOIN allowed n ON n.user_id = a.user_id
		WHERE a.valid_to IS NULL AND (n.user_id IS NULL OR n.eff <> a.permissions)
	), dropped AS (
		DELETE FROM access_intervals a USING changed c
		WHERE a.user_id = c.user_id AND a.valid_from = c.valid_from AND c.valid_from >= $1
		RETURNING 1
	)
	UPDATE access_intervals a SET valid_to = $1 FROM changed c
	WHERE a.user_id = c.user_id AND a.valid_from = c.valid_from AND c.valid_from < $1`, params...)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, cur+`
	INSERT INTO access_intervals (org_id, user_id, valid_from, permissions)
	SELECT n.org_id, n.user_id, $1, n.eff FROM allowed n
	WHERE NOT EXISTS (SELECT 1 FROM access_intervals a WHERE a.user_id = n.user_id AND a.valid_to IS NULL)`, params...)
	return err
}

// Apply updates the state an event changes and recomputes the access of
// the users it can affect. Rows carry versions where an event could be
// applied twice.
func (*Access) Apply(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent, ev domain.Event) error {
	at := e.RecordedAt
	var err error
	switch {
	case strings.HasPrefix(e.StreamID, "org-"):
		org := e.OrgID
		switch ev := ev.(type) {
		case domain.OrganizationCreated:
			_, err = tx.Exec(ctx, `INSERT INTO access_orgs (org_id) VALUES ($1) ON CONFLICT DO NOTHING`, org)
			return err
		case domain.PortalEnabled, domain.PortalDisabled:
			_, enabled := ev.(domain.PortalEnabled)
			if _, err = tx.Exec(ctx, `UPDATE access_orgs SET enabled = $2 WHERE org_id = $1`, org, enabled); err == nil {
				err = recompute(ctx, tx, at, `u.org_id = $3`, org)
			}
		case domain.RoleCreated, domain.RoleChanged:
			var id domain.RoleID
			var perms domain.Permissions
			if c, ok := ev.(domain.RoleCreated); ok {
				id, perms = c.RoleID, c.Permissions
			} else {
				c := ev.(domain.RoleChanged)
				id, perms = c.RoleID, c.Permissions
			}
			if perms == nil {
				perms = domain.Permissions{}
			}
			if _, err = tx.Exec(ctx, `UPDATE access_orgs SET roles = roles || jsonb_build_object($2::text, $3::jsonb) WHERE org_id = $1`, org, string(id), perms); err == nil {
				err = recompute(ctx, tx, at, `u.role_id = $3`, string(id))
			}
		}
	case strings.HasPrefix(e.StreamID, "company-"):
		id := strings.TrimPrefix(e.StreamID, "company-")
		switch ev := ev.(type) {
		case domain.CompanyCreated:
			_, err = tx.Exec(ctx, `INSERT INTO access_companies (company_id, org_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, e.OrgID)
			return err
		case domain.CompanyPortalActivated, domain.CompanyPortalDeactivated:
			_, active := ev.(domain.CompanyPortalActivated)
			if _, err = tx.Exec(ctx, `UPDATE access_companies SET active = $2 WHERE company_id = $1`, id, active); err == nil {
				err = recompute(ctx, tx, at, `u.company_id = $3`, id)
			}
		case domain.CompanyPermissionsSet:
			perms := ev.Permissions
			if perms == nil {
				perms = domain.Permissions{}
			}
			if _, err = tx.Exec(ctx, `UPDATE access_companies SET perms = $2 WHERE company_id = $1`, id, perms); err == nil {
				err = recompute(ctx, tx, at, `u.company_id = $3`, id)
			}
		}
	case strings.HasPrefix(e.StreamID, "user-"):
		err = applyAccessUser(ctx, tx, e, ev)
	}
	if err != nil {
		return fmt.Errorf("access %s at %d: %w", e.Type, e.Position, err)
	}
	return nil
}

// accessUserKey names a user's access row in a delivery's memo.
type accessUserKey string

type accessUser struct {
	company, role                                       string
	perms                                               domain.Permissions
	access, account, deactivated, removed, invitedState bool
	invitation                                          string
	version                                             int
}

func applyAccessUser(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent, ev domain.Event) error {
	id := strings.TrimPrefix(e.StreamID, "user-")
	memo := txMemo(tx) // as in the users read model: one read per user and batch
	u, remembered := memo[accessUserKey(id)].(accessUser)
	wasActive := false // a user not created yet has no access
	if c, ok := ev.(domain.UserCreated); ok {
		u = accessUser{company: string(c.CompanyID), role: string(c.RoleID), access: c.PortalAccess, perms: domain.Permissions{}}
	} else {
		if !remembered {
			err := tx.QueryRow(ctx, `SELECT coalesce(company_id::text, ''), coalesce(role_id::text, ''), perms, portal_access, has_account,
			deactivated, removed, coalesce(invitation::text, ''), invited, version FROM access_users WHERE user_id = $1 FOR UPDATE`, id).
				Scan(&u.company, &u.role, &u.perms, &u.access, &u.account, &u.deactivated, &u.removed, &u.invitation, &u.invitedState, &u.version)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("user %s: %s before UserCreated", id, e.Type)
			}
			if err != nil {
				return err
			}
		}
		if u.version >= e.StreamVersion {
			return nil // applied before
		}
		wasActive = u.status() == domain.StatusActive
		evolveAccessUser(&u, ev) // the same rule as the rebuild's fold
	}
	if u.perms == nil {
		u.perms = domain.Permissions{}
	}
	u.version = e.StreamVersion
	if memo != nil {
		memo[accessUserKey(id)] = u
	}
	row := []any{id, e.OrgID, nullIfEmpty(u.company), nullIfEmpty(u.role), u.perms, u.access, u.account, u.deactivated, u.removed,
		nullIfEmpty(u.invitation), u.invitedState, string(u.status()), e.StreamVersion}
	if err := writeLater(ctx, tx, accessUsersPending{}, id, row, writeAccessUsers); err != nil {
		return err
	}
	// Only an active user can have access (recompute's rule), so a user who
	// was not active before the event and is not after had no interval
	// open and gets none: nothing to recompute. That is every step of a new
	// user until they have an account, the bulk of a busy portal's events.
	if !wasActive && u.status() != domain.StatusActive {
		return nil
	}
	return recompute(ctx, tx, e.RecordedAt, `u.user_id = $3`, id)
}

// status is the user's status as the users read model derives it.
func (u accessUser) status() domain.UserStatus {
	return domain.StatusOf(u.access, u.account, u.invitedState, u.deactivated, u.removed)
}

// accessUsersPending names the access_users rows a delivery left to write
// at its end; a recompute, being another statement, writes them first.
type accessUsersPending struct{}

var accessUserColumns = []string{"user_id", "org_id", "company_id", "role_id", "perms", "portal_access", "has_account", "deactivated",
	"removed", "invitation", "invited", "status", "version"}

var upsertAccessUsers = unnestInsert("access_users", accessUserColumns,
	[]string{"uuid", "uuid", "uuid", "uuid", "jsonb", "bool", "bool", "bool", "bool", "uuid", "bool", "text", "int"},
	`ON CONFLICT (user_id) DO UPDATE SET company_id = excluded.company_id, role_id = excluded.role_id, perms = excluded.perms,
		portal_access = excluded.portal_access, has_account = excluded.has_account, deactivated = excluded.deactivated,
		removed = excluded.removed, invitation = excluded.invitation, invited = excluded.invited, status = excluded.status,
		version = excluded.version
	WHERE access_users.version < excluded.version`)

func writeAccessUsers(ctx context.Context, tx pgx.Tx, rows [][]any) error {
	if _, err := tx.Exec(ctx, upsertAccessUsers, columnArrays(rows, len(accessUserColumns))...); err != nil {
		return fmt.Errorf("write %d access users: %w", len(rows), err)
	}
	return nil
}

// AccessAtFast answers who had portal access at an instant from the
// intervals (only user, when set).
func AccessAtFast(ctx context.Context, pool *pgxpool.Pool, org domain.OrgID, at time.Time, user domain.UserID) ([]AccessEntry, error) {
	q := `SELECT a.user_id::text, coalesce(v.email, ''), coalesce(v.first_name, ''), coalesce(v.last_name, ''),
			coalesce(u.company_id::text, ''), a.permissions
		FROM access_intervals a
		JOIN access_users u ON u.user_id = a.user_id
		LEFT JOIN users_view v ON v.user_id = a.user_id
		WHERE a.org_id = $1 AND a.valid_from <= $2 AND (a.valid_to IS NULL OR a.valid_to > $2)`
	args := []any{string(org), at}
	if user != "" {
		q += ` AND a.user_id = $3`
		args = append(args, string(user))
	}
	q += ` ORDER BY a.user_id`
	rows, err := pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("access at %s: %w", at, err)
	}
	defer rows.Close()
	out := []AccessEntry{}
	for rows.Next() {
		var a AccessEntry
		if err := rows.Scan(&a.UserID, &a.Email, &a.FirstName, &a.LastName, &a.CompanyID, &a.Permissions); err != nil {
			return nil, fmt.Errorf("access at %s: %w", at, err)
		}
		a.Status = domain.StatusActive
		out = append(out, a)
	}
	return out, rows.Err()
}

// AccessAtAnswer answers from the intervals when the access read model has
// applied every event of org recorded up to at, and by replay otherwise
// (a read model that is behind, or an instant in the last moments).
func AccessAtAnswer(ctx context.Context, store *eventstore.Store, org domain.OrgID, at time.Time, user domain.UserID) ([]AccessEntry, error) {
	pool := store.Pool()
	var xid string
	var position int64
	err := pool.QueryRow(ctx, `SELECT last_processed_transaction_id::text, coalesce(offset_acked, 0) FROM watermill_offsets_events
		WHERE consumer_group = 'access'`).Scan(&xid, &position)
	if errors.Is(err, pgx.ErrNoRows) {
		return AccessAt(ctx, store, org, at, user) // the read model has not started
	}
	if err != nil {
		return nil, fmt.Errorf("access read model position: %w", err)
	}
	// The organization's first event the read model has not applied (the
	// offset as constants, so the range is an index bound).
	var pending time.Time
	err = pool.QueryRow(ctx, `SELECT recorded_at FROM events
		WHERE (org_id, transaction_id, position) > ($1, $2::xid8, $3)
		  AND (org_id, transaction_id, position) <= ($1, '18446744073709551615'::xid8, 9223372036854775807)
		ORDER BY org_id, transaction_id, position LIMIT 1`, string(org), xid, position).Scan(&pending)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && pending.After(at)):
		return AccessAtFast(ctx, pool, org, at, user)
	case err != nil:
		return nil, fmt.Errorf("access read model position: %w", err)
	}
	return AccessAt(ctx, store, org, at, user)
}
