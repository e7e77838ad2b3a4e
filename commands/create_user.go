package commands

import (
	"context"
	"errors"
	"time"

	"gatehouse/domain"
	"gatehouse/eventstore"
)

// CreateUser adds a portal user, with or without portal access, and
// optionally sends the invitation right away.
type CreateUser struct {
	FirstName    string         `json:"first_name"`
	LastName     string         `json:"last_name"`
	Email        string         `json:"email"`
	CompanyID    string         `json:"company_id"`
	RoleID       string         `json:"role_id"`
	PortalAccess bool           `json:"portal_access"`
	SendInvite   bool           `json:"send_invite"`
	Properties   map[string]any `json:"properties"`
}

// CreateUser runs the command. The email is reserved in the append's
// transaction, so two concurrent creations with one address cannot both win.
func (a *App) CreateUser(ctx context.Context, meta Meta, cmd CreateUser) (UserResult, error) {
	id, err := newID()
	if err != nil {
		return UserResult{}, err
	}
	if meta.Scope != "" { // self-service adds colleagues to the caller's own company
		cmd.CompanyID = string(meta.Scope)
	}
	var (
		company *domain.Company
		role    *domain.Role
		invite  *pendingInvitation
	)
	needOrg := cmd.RoleID != "" || cmd.SendInvite
	readContext := func(ctx context.Context, kept bool) ([]eventstore.Statement, error) {
		c, org, guards, err := a.newUserContext(ctx, meta.Org, domain.CompanyID(cmd.CompanyID), needOrg, kept)
		if err != nil {
			return nil, err
		}
		company, role, invite = c, nil, nil
		if cmd.RoleID != "" {
			role = orgRole(org, meta.Org, domain.RoleID(cmd.RoleID))
		}
		if cmd.SendInvite {
			if invite, err = a.newInvitation(org, meta.Org); err != nil {
				return nil, err
			}
		}
		return guards, nil
	}
	now := a.now()
	return execute[domain.User](ctx, a, meta, change[*domain.User, UserResult]{
		name:    "CreateUser",
		stream:  domain.UserID(id).Stream(),
		subject: id,
		request: cmd,
		fresh:   true,
		read:    readContext,
		decide: func(u *domain.User, _ int) ([]domain.Event, error) {
			events, err := u.Create(domain.NewUser{ID: domain.UserID(id), OrgID: meta.Org, Company: company, CompanyID: domain.CompanyID(cmd.CompanyID),
				FirstName: cmd.FirstName, LastName: cmd.LastName, Email: cmd.Email, Properties: cmd.Properties,
				PortalAccess: cmd.PortalAccess || cmd.SendInvite, RoleID: domain.RoleID(cmd.RoleID), Role: role})
			if err != nil || invite == nil {
				return events, err
			}
			created := *u
			for _, e := range events {
				created.Apply(e)
			}
			sent, err := created.Invite(now, invite.id, invite.hash, invite.sealed, invite.ttl)
			return append(events, sent...), err
		},
		result: func(u *domain.User, info streamInfo) (UserResult, error) {
			r := userResult(u, info, now)
			if invite != nil && r.Invitation != nil {
				r.Invitation.Token = invite.token
			}
			return r, nil
		},
	})
}

// pendingInvitation is a new link's secret, made before the decision so
// that the domain stays free of randomness.
type pendingInvitation struct {
	id     domain.InvitationID
	token  string
	hash   string
	sealed string
	ttl    time.Duration
}

func (a *App) prepareInvitation(ctx context.Context, org domain.OrgID) (*pendingInvitation, error) {
	o, _, err := load[domain.Organization](ctx, a.store, org.Stream())
	if err != nil {
		return nil, err
	}
	return a.newInvitation(o, org)
}

// newInvitation is prepareInvitation with the organization already read.
func (a *App) newInvitation(o *domain.Organization, org domain.OrgID) (*pendingInvitation, error) {
	if o.ID != org {
		return nil, domain.ErrOrganizationNotFound
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	token, hash, err := newSecret()
	if err != nil {
		return nil, err
	}
	var sealed string
	if a.sealer != nil {
		if sealed, err = a.sealer.Seal(token); err != nil {
			return nil, err
		}
	}
	ttl := time.Duration(o.Settings.InvitationTTLHours) * time.Hour
	return &pendingInvitation{id: domain.InvitationID(id), token: token, hash: hash, sealed: sealed, ttl: ttl}, nil
}

// newUserContext reads what a new user is checked against, the company
// (when named) and the organization (when needed: a role, an invitation),
// in one round trip, and only what was appended since the caches last
// saw them. With kept true and both in the caches, it reads nothing: it
// takes them as last seen and returns the statements that fail the append
// with eventstore.ErrStreamMoved should either have moved on since (the
// next attempt reads them). An unknown or foreign company reads as an
// empty one, as a.company gives it. The aggregates may be shared: read
// them, never change them.
func (a *App) newUserContext(ctx context.Context, org domain.OrgID, companyID domain.CompanyID, needOrg, kept bool) (*domain.Company, *domain.Organization, []eventstore.Statement, error) {
	readCompany := companyID != "" && domain.ValidID(string(companyID))
	if kept {
		if company, o, guards, ok := a.keptUserContext(org, companyID, readCompany, needOrg); ok {
			return company, o, guards, nil
		}
	}
	var reads []eventstore.StreamTail
	if readCompany {
		reads = append(reads, a.companies.tail(companyID.Stream()))
	}
	if needOrg {
		reads = append(reads, a.orgs.tail(org.Stream()))
	}
	var tails [][]eventstore.RecordedEvent
	if len(reads) > 0 {
		var err error
		if tails, err = a.store.ReadStreams(ctx, reads...); err != nil {
			return nil, nil, nil, err
		}
	}
	var company *domain.Company
	if companyID != "" {
		company = &domain.Company{}
		if readCompany {
			c, err := a.companies.resolve(reads[0], tails[0])
			if errors.Is(err, errEvicted) {
				c, _, err = load[domain.Company](ctx, a.store, companyID.Stream())
			}
			if err != nil {
				return nil, nil, nil, err
			}
			company = ownCompany(c, org)
		}
	}
	var o *domain.Organization
	if needOrg {
		last := len(reads) - 1
		var err error
		o, err = a.orgs.resolve(reads[last], tails[last])
		if errors.Is(err, errEvicted) {
			o, _, err = load[domain.Organization](ctx, a.store, org.Stream())
		}
		if err != nil {
			return nil, nil, nil, err
		}
	}
	return company, o, nil, nil
}

// keptUserContext is newUserContext from the caches alone; ok is false
// when one of the aggregates needed is not there.
func (a *App) keptUserContext(org domain.OrgID, companyID domain.CompanyID, readCompany, needOrg bool) (company *domain.Company, o *domain.Organization, guards []eventstore.Statement, ok bool) {
	if companyID != "" {
		if !readCompany {
			return nil, nil, nil, false // the read path gives the answer for a malformed id
		}
		c, version, ok := a.companies.kept(companyID.Stream())
		if !ok {
			return nil, nil, nil, false
		}
		company = ownCompany(c, org)
		guards = append(guards, eventstore.StreamUnchanged(companyID.Stream(), version))
	}
	if needOrg {
		var version int
		if o, version, ok = a.orgs.kept(org.Stream()); !ok {
			return nil, nil, nil, false
		}
		guards = append(guards, eventstore.StreamUnchanged(org.Stream(), version))
	}
	return company, o, guards, true
}
