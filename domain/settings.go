package domain

import (
	"regexp"
	"slices"
	"strings"
	"text/template"
)

// SignupPolicy says who may sign up to the portal by themselves.
type SignupPolicy string

const (
	SignupClosed             SignupPolicy = "closed"
	SignupOpen               SignupPolicy = "open"
	SignupPreviousRequesters SignupPolicy = "previous_requesters"
	SignupAllowedDomains     SignupPolicy = "allowed_domains"
)

// PortalSettings is how the operator set up the customer portal.
type PortalSettings struct {
	Language              string       `json:"language"`
	CustomDomain          string       `json:"custom_domain"`
	HelpDocsEnabled       bool         `json:"help_docs_enabled"`
	Inboxes               []string     `json:"inboxes"`
	SignupPolicy          SignupPolicy `json:"signup_policy"`
	AllowedDomains        []string     `json:"allowed_domains"`
	AutoInviteDepartments []string     `json:"auto_invite_departments"`
	InvitationTTLHours    int          `json:"invitation_ttl_hours"`
	NotifyOnDeactivation  bool         `json:"notify_on_deactivation"`
	DefaultRoleID         RoleID       `json:"default_role_id"`
	// Templates are the operator's own emails, by kind ("invitation",
	// "deactivation"); a kind without one uses the built-in template of
	// the portal's language.
	Templates map[string]EmailTemplate `json:"templates,omitempty"`
}

// EmailTemplate is a subject and a plain-text body in Go text/template
// syntax, with {{.FirstName}}, {{.LastName}}, {{.Email}}, {{.PortalName}},
// {{.AcceptURL}}, {{.ExpiresAt}} and {{.Reason}}.
type EmailTemplate struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// EmailKinds are the emails the portal sends.
var EmailKinds = []string{"invitation", "deactivation"}

// DefaultSettings are a new organization's settings.
func DefaultSettings() PortalSettings {
	return PortalSettings{Language: "en", SignupPolicy: SignupClosed, InvitationTTLHours: DefaultInvitationTTLHours,
		Inboxes: []string{}, AllowedDomains: []string{}, AutoInviteDepartments: []string{}}
}

// SettingsPatch changes the settings it names (nil fields stay).
type SettingsPatch struct {
	Language              *string
	CustomDomain          *string
	HelpDocsEnabled       *bool
	Inboxes               *[]string
	SignupPolicy          *SignupPolicy
	AllowedDomains        *[]string
	AutoInviteDepartments *[]string
	InvitationTTLHours    *int
	NotifyOnDeactivation  *bool
	DefaultRoleID         *RoleID
	// Templates replaces the custom templates (an empty map clears them).
	Templates map[string]EmailTemplate
}

var (
	languagePattern = regexp.MustCompile(`^[a-z]{2}(-[A-Z]{2})?$`)
	hostLabel       = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// validHostname accepts a lower-case DNS name with at least two labels.
func validHostname(h string) bool {
	if len(h) > 253 || !strings.Contains(h, ".") {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if !hostLabel.MatchString(l) {
			return false
		}
	}
	return true
}

func cleanList(v *Validation, field string, in []string, check func(string) bool, what string) []string {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	if len(in) > 200 {
		v.Add(field, "must have at most 200 entries")
		return out
	}
	for _, s := range in {
		s = strings.TrimSpace(s)
		if check != nil && !check(s) {
			v.Add(field, "has an entry that is not "+what+": "+s)
			continue
		}
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// ChangeSettings applies a patch; the event carries the whole new settings
// and the names of the fields that changed.
func (o *Organization) ChangeSettings(p SettingsPatch) ([]Event, error) {
	if !o.Exists() {
		return nil, ErrOrganizationNotFound
	}
	s := o.Settings
	var v Validation
	var changed []string
	note := func(name string) { changed = append(changed, name) }
	if p.Language != nil {
		if !languagePattern.MatchString(*p.Language) {
			v.Add("language", "must be a language code such as en or de")
		}
		s.Language = *p.Language
		note("language")
	}
	if p.CustomDomain != nil {
		d := strings.ToLower(strings.TrimSpace(*p.CustomDomain))
		if d != "" && !validHostname(d) {
			v.Add("custom_domain", "must be a host name such as support.example.com")
		}
		s.CustomDomain = d
		note("custom_domain")
	}
	if p.HelpDocsEnabled != nil {
		s.HelpDocsEnabled = *p.HelpDocsEnabled
		note("help_docs_enabled")
	}
	if p.Inboxes != nil {
		s.Inboxes = cleanList(&v, "inboxes", *p.Inboxes, func(x string) bool { return x != "" && len(x) <= 200 }, "an inbox name")
		note("inboxes")
	}
	if p.SignupPolicy != nil {
		switch *p.SignupPolicy {
		case SignupClosed, SignupOpen, SignupPreviousRequesters, SignupAllowedDomains:
		default:
			v.Add("signup_policy", "must be closed, open, previous_requesters or allowed_domains")
		}
		s.SignupPolicy = *p.SignupPolicy
		note("signup_policy")
	}
	if p.AllowedDomains != nil {
		lower := make([]string, len(*p.AllowedDomains))
		for i, d := range *p.AllowedDomains {
			lower[i] = strings.ToLower(strings.TrimSpace(d))
		}
		s.AllowedDomains = cleanList(&v, "allowed_domains", lower, validHostname, "a domain")
		note("allowed_domains")
	}
	if p.AutoInviteDepartments != nil {
		s.AutoInviteDepartments = cleanList(&v, "auto_invite_departments", *p.AutoInviteDepartments, func(x string) bool { return x != "" && len(x) <= 200 }, "a department")
		for _, d := range s.AutoInviteDepartments {
			if d == "*" && len(s.AutoInviteDepartments) > 1 {
				v.Add("auto_invite_departments", `"*" (every department) must stand alone`)
			}
		}
		note("auto_invite_departments")
	}
	if p.InvitationTTLHours != nil {
		if *p.InvitationTTLHours < 1 || *p.InvitationTTLHours > 24*90 {
			v.Add("invitation_ttl_hours", "must be from 1 to 2160 (90 days)")
		}
		s.InvitationTTLHours = *p.InvitationTTLHours
		note("invitation_ttl_hours")
	}
	if p.NotifyOnDeactivation != nil {
		s.NotifyOnDeactivation = *p.NotifyOnDeactivation
		note("notify_on_deactivation")
	}
	if p.DefaultRoleID != nil {
		if *p.DefaultRoleID != "" {
			if _, ok := o.Roles[*p.DefaultRoleID]; !ok {
				v.Add("default_role_id", "no such role")
			}
		}
		s.DefaultRoleID = *p.DefaultRoleID
		note("default_role_id")
	}
	if p.Templates != nil {
		for kind, tpl := range p.Templates {
			if !slices.Contains(EmailKinds, kind) {
				v.Add("templates."+kind, "is not an email kind (invitation, deactivation)")
				continue
			}
			for part, text := range map[string]string{"subject": tpl.Subject, "body": tpl.Body} {
				if strings.TrimSpace(text) == "" {
					v.Add("templates."+kind+"."+part, "is required")
				} else if _, err := template.New(kind).Option("missingkey=error").Parse(text); err != nil {
					v.Add("templates."+kind+"."+part, "is not a valid template: "+err.Error())
				}
			}
		}
		s.Templates = p.Templates
		if len(s.Templates) == 0 {
			s.Templates = nil
		}
		note("templates")
	}
	if s.SignupPolicy == SignupAllowedDomains && len(s.AllowedDomains) == 0 {
		v.Add("allowed_domains", "must name at least one domain when signup_policy is allowed_domains")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		return nil, nil
	}
	return []Event{PortalSettingsChanged{Settings: s, Changed: changed}}, nil
}

// SignupAllowed applies the sign-up policy to an address; previousRequester
// says whether it submitted a ticket before.
func (s PortalSettings) SignupAllowed(email string, previousRequester bool) bool {
	switch s.SignupPolicy {
	case SignupOpen:
		return true
	case SignupPreviousRequesters:
		return previousRequester
	case SignupAllowedDomains:
		domain := email[strings.LastIndexByte(email, '@')+1:]
		for _, d := range s.AllowedDomains {
			if domain == d {
				return true
			}
		}
	}
	return false
}

// AutoInvites says whether a ticket in department triggers an auto-invite.
func (s PortalSettings) AutoInvites(department string) bool {
	for _, d := range s.AutoInviteDepartments {
		if d == "*" || d == department {
			return true
		}
	}
	return false
}
