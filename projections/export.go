package projections

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/domain"
)

// ExportSelection picks the users to export: IDs when given, else the
// list filters (Limit and Cursor are ignored).
type ExportSelection struct {
	IDs    []domain.UserID
	Filter UserFilter
}

// ExportHeader is the CSV header row.
var ExportHeader = []string{"id", "first_name", "last_name", "email", "status", "portal_access", "company_id", "company_name",
	"role_id", "role_name", "invitation_status", "invitation_expires_at", "properties", "created_at", "updated_at"}

// neutralize defuses spreadsheet formula injection: a cell that begins
// with =, +, -, @, a tab or a carriage return is prefixed with a quote.
func neutralize(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV streams the selected users of org as CSV (RFC 4180, UTF-8,
// header row first), row by row from one database cursor, so memory stays
// flat however many users there are. It returns the number of rows.
func (u *Users) WriteCSV(ctx context.Context, w io.Writer, org domain.OrgID, sel ExportSelection) (int, error) {
	q := `SELECT u.user_id::text, u.first_name, u.last_name, u.email, u.status, u.portal_access,
		coalesce(u.company_id::text, ''), coalesce(c.name, ''), coalesce(u.role_id::text, ''), coalesce(r.name, ''),
		coalesce(u.invitation_status, ''), u.invitation_expires_at, u.properties::text, u.created_at, u.updated_at
		FROM users_view u LEFT JOIN companies_view c ON c.company_id = u.company_id LEFT JOIN roles_view r ON r.role_id = u.role_id
		WHERE u.org_id = $1`
	args := []any{string(org)}
	if len(sel.IDs) > 0 {
		ids := make([]string, len(sel.IDs))
		for i, id := range sel.IDs {
			ids[i] = string(id)
		}
		args = append(args, ids)
		q += ` AND u.user_id = ANY($2::text[]::uuid[])`
	} else {
		cond, more := sel.Filter.where(len(args))
		q += cond
		args = append(args, more...)
	}
	q += ` ORDER BY u.created_at, u.user_id`
	tx, err := u.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("export users: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	if len(sel.IDs) == 0 {
		// An organization is read in the order of users_view_org_order as
		// it streams out. Left to itself, PostgreSQL read the table whole
		// and sorted the organization, spilling to disk past work_mem:
		// 0.25-0.33 s of execution for 100,000 users against 0.18 s.
		if _, err := tx.Exec(ctx, `SET LOCAL enable_sort = off`); err != nil {
			return 0, fmt.Errorf("export users: %w", err)
		}
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("export users: %w", err)
	}
	defer rows.Close()
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write(ExportHeader); err != nil {
		return 0, err
	}
	now := time.Now()
	n := 0
	record := make([]string, len(ExportHeader))
	var (
		id, first, last, email, status, companyID, companyName, roleID, roleName, invStatus, props string
		access                                                                                     bool
		expires                                                                                    *time.Time
		created, updated                                                                           time.Time
	)
	for rows.Next() {
		if err := rows.Scan(&id, &first, &last, &email, &status, &access, &companyID, &companyName, &roleID, &roleName,
			&invStatus, &expires, &props, &created, &updated); err != nil {
			return n, fmt.Errorf("export users: %w", err)
		}
		exp := ""
		if expires != nil {
			exp = expires.UTC().Format(time.RFC3339)
			if invStatus == string(domain.InvitationStatePending) && !now.Before(*expires) {
				invStatus = string(domain.InvitationStateExpired)
			}
		}
		if props == "{}" {
			props = ""
		}
		record[0], record[1], record[2], record[3], record[4] = id, neutralize(first), neutralize(last), neutralize(email), status
		record[5], record[6], record[7], record[8], record[9] = fmt.Sprint(access), companyID, neutralize(companyName), roleID, neutralize(roleName)
		record[10], record[11], record[12] = invStatus, exp, neutralize(props)
		record[13], record[14] = created.UTC().Format(time.RFC3339), updated.UTC().Format(time.RFC3339)
		if err := cw.Write(record); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("export users: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}
