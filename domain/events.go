package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is something that happened. Its type name is stored with it and
// never changes; a changed shape gets a new schema version and is upcast
// when read (DecodeEvent).
type Event interface {
	EventType() string
}

// Organization stream.
type (
	OrganizationCreated struct {
		OrgID      OrgID  `json:"org_id"`
		Name       string `json:"name"`
		Slug       string `json:"slug"`
		AdminEmail string `json:"admin_email,omitempty"`
	}
	StaffTokenIssued struct {
		TokenID TokenID   `json:"token_id"`
		Name    string    `json:"name"`
		Role    StaffRole `json:"role"`
		// TokenHash is the hex SHA-256 of the token; the token is never stored.
		TokenHash string `json:"token_hash"`
	}
	PortalEnabled  struct{}
	PortalDisabled struct{}
)

// Company stream.
type (
	CompanyCreated struct {
		CompanyID  CompanyID      `json:"company_id"`
		OrgID      OrgID          `json:"org_id"`
		Name       string         `json:"name"`
		ParentID   CompanyID      `json:"parent_id,omitempty"`
		Manager    string         `json:"manager,omitempty"`
		Location   string         `json:"location,omitempty"`
		Properties map[string]any `json:"properties,omitempty"`
	}
	CompanyPortalActivated   struct{}
	CompanyPortalDeactivated struct{}
)

// User stream.
type (
	UserCreated struct {
		UserID       UserID         `json:"user_id"`
		OrgID        OrgID          `json:"org_id"`
		CompanyID    CompanyID      `json:"company_id,omitempty"`
		RoleID       RoleID         `json:"role_id,omitempty"`
		FirstName    string         `json:"first_name"`
		LastName     string         `json:"last_name"`
		Email        string         `json:"email"`
		Properties   map[string]any `json:"properties,omitempty"`
		PortalAccess bool           `json:"portal_access"`
	}
	InvitationSent struct {
		InvitationID InvitationID `json:"invitation_id"`
		// TokenHash is the hex SHA-256 of the link's token.
		TokenHash string    `json:"token_hash"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	InvitationRevoked struct {
		InvitationID InvitationID `json:"invitation_id"`
		Reason       string       `json:"reason"`
	}
	InvitationAccepted struct {
		InvitationID InvitationID `json:"invitation_id"`
	}
	PasswordSet struct {
		// PasswordHash is a slow hash (argon2id, PHC string format).
		PasswordHash string `json:"password_hash"`
	}
)

func (OrganizationCreated) EventType() string      { return "OrganizationCreated" }
func (StaffTokenIssued) EventType() string         { return "StaffTokenIssued" }
func (PortalEnabled) EventType() string            { return "PortalEnabled" }
func (PortalDisabled) EventType() string           { return "PortalDisabled" }
func (CompanyCreated) EventType() string           { return "CompanyCreated" }
func (CompanyPortalActivated) EventType() string   { return "CompanyPortalActivated" }
func (CompanyPortalDeactivated) EventType() string { return "CompanyPortalDeactivated" }
func (UserCreated) EventType() string              { return "UserCreated" }
func (InvitationSent) EventType() string           { return "InvitationSent" }
func (InvitationRevoked) EventType() string        { return "InvitationRevoked" }
func (InvitationAccepted) EventType() string       { return "InvitationAccepted" }
func (PasswordSet) EventType() string              { return "PasswordSet" }

// decoderFor returns the decoder of the named event type.
func decoderFor(typ string) (func([]byte) (Event, error), bool) {
	switch typ {
	case "OrganizationCreated":
		return decodeAs[OrganizationCreated], true
	case "StaffTokenIssued":
		return decodeAs[StaffTokenIssued], true
	case "PortalEnabled":
		return decodeAs[PortalEnabled], true
	case "PortalDisabled":
		return decodeAs[PortalDisabled], true
	case "CompanyCreated":
		return decodeAs[CompanyCreated], true
	case "CompanyPortalActivated":
		return decodeAs[CompanyPortalActivated], true
	case "CompanyPortalDeactivated":
		return decodeAs[CompanyPortalDeactivated], true
	case "UserCreated":
		return decodeAs[UserCreated], true
	case "InvitationSent":
		return decodeAs[InvitationSent], true
	case "InvitationRevoked":
		return decodeAs[InvitationRevoked], true
	case "InvitationAccepted":
		return decodeAs[InvitationAccepted], true
	case "PasswordSet":
		return decodeAs[PasswordSet], true
	}
	return nil, false
}

func decodeAs[T Event](data []byte) (Event, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}

// SchemaVersion is the current shape version of every event type.
const SchemaVersion = 1

// EncodeEvent returns the stored form of e.
func EncodeEvent(e Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	return b, nil
}

// DecodeEvent turns a stored event back into its value (not a pointer), so
// type switches match the same types decisions return.
func DecodeEvent(typ string, schemaVersion int, data []byte) (Event, error) {
	decode, ok := decoderFor(typ)
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", typ)
	}
	if schemaVersion > SchemaVersion {
		return nil, fmt.Errorf("event %s has schema version %d, newer than this binary's %d", typ, schemaVersion, SchemaVersion)
	}
	e, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	return e, nil
}
