package domain

import "sort"

// Permission is one thing a portal user may do.
type Permission string

const (
	PermPortalAccess       Permission = "portal_access"
	PermViewPriority       Permission = "view_priority"
	PermEditPriority       Permission = "edit_priority"
	PermViewType           Permission = "view_type"
	PermEditType           Permission = "edit_type"
	PermViewTags           Permission = "view_tags"
	PermEditTags           Permission = "edit_tags"
	PermSeeAgents          Permission = "see_agents"
	PermCloseTickets       Permission = "close_tickets"
	PermViewCompanyTickets Permission = "view_company_tickets"
	PermManageUsers        Permission = "manage_users"
)

// AllPermissions lists every portal permission.
var AllPermissions = []Permission{
	PermPortalAccess, PermViewPriority, PermEditPriority, PermViewType, PermEditType, PermViewTags,
	PermEditTags, PermSeeAgents, PermCloseTickets, PermViewCompanyTickets, PermManageUsers,
}

// Permissions maps permissions to allowed or denied. A layer names only the
// permissions it decides; the others fall through to the layer below.
type Permissions map[Permission]bool

func knownPermission(p Permission) bool {
	for _, k := range AllPermissions {
		if k == p {
			return true
		}
	}
	return false
}

// checkPermissions validates a permission map given by a caller.
func checkPermissions(v *Validation, field string, m Permissions) {
	keys := make([]string, 0, len(m))
	for p := range m {
		keys = append(keys, string(p))
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !knownPermission(Permission(k)) {
			v.Add(field+"."+k, "is not a portal permission")
		}
	}
}

// EffectivePermissions is the precedence rule, lowest layer first:
//
//  1. the default: portal_access allowed, everything else denied;
//  2. the user's role;
//  3. the user's company;
//  4. the user's own overrides.
//
// Each layer overrides only the permissions it names. Whether the user may
// enter at all also depends on their status and the portal switches (see
// AccessAllowed).
func EffectivePermissions(role, company, user Permissions) Permissions {
	eff := make(Permissions, len(AllPermissions))
	EffectivePermissionsInto(eff, role, company, user)
	return eff
}

// EffectivePermissionsInto is EffectivePermissions written over eff, for
// callers that compute it for many users and keep few of the results
// (a rebuild of the access history recomputes on every change).
func EffectivePermissionsInto(eff, role, company, user Permissions) {
	clear(eff)
	for _, p := range AllPermissions {
		eff[p] = p == PermPortalAccess
	}
	for _, layer := range [...]Permissions{role, company, user} {
		for p, allowed := range layer {
			if knownPermission(p) {
				eff[p] = allowed
			}
		}
	}
}

// AccessAllowed is the door's decision: an active account, an open portal,
// an active company portal (for users of a company) and portal_access.
func AccessAllowed(status UserStatus, portalEnabled, companyPortalActive bool, eff Permissions) bool {
	return status == StatusActive && portalEnabled && companyPortalActive && eff[PermPortalAccess]
}
