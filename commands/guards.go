package commands

import (
	"fmt"

	"github.com/google/uuid"

	"gatehouse/domain"
)

// ErrAdminOnly refuses a staff command an agent may not issue.
var ErrAdminOnly = &domain.Error{Kind: domain.KindForbidden, Code: "admin_only", Message: "only an admin token may do this"}

func requireAdmin(meta Meta) error {
	if meta.Actor.Kind == domain.ActorStaff && meta.Actor.Role != domain.StaffAdmin {
		return ErrAdminOnly
	}
	return nil
}

// checkVersion compares an If-Match version with the stream's.
func checkVersion(ifMatch *int, version int) error {
	if ifMatch != nil && *ifMatch != version {
		return domain.ErrVersionMismatch
	}
	return nil
}

func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return id.String(), nil
}
