// Package notify sends the emails the portal owes people: the invitation
// with its link, and the deactivation notice when the portal says so. It
// reacts to events (InvitationSent, UserDeactivated), renders the
// operator's template or the built-in one of the portal's language, sends
// through SMTP with retries, and records the outcome as an event.
//
// It depends on domain and commands; it must not import http.
package notify

import (
	"bytes"
	"fmt"
	"text/template"
	"time"

	"gatehouse/domain"
)

// MailData is what templates can use.
type MailData struct {
	FirstName  string
	LastName   string
	Email      string
	PortalName string
	AcceptURL  string
	ExpiresAt  string
	Reason     string
}

// builtIn are the templates by language and kind; English is the fallback.
var builtIn = map[string]map[string]domain.EmailTemplate{
	"en": {
		"invitation": {
			Subject: "You are invited to the {{.PortalName}} customer portal",
			Body: "Hello {{.FirstName}},\n\nYou have been invited to the {{.PortalName}} customer portal.\n" +
				"Choose your password here:\n\n{{.AcceptURL}}\n\nThe link works once and until {{.ExpiresAt}}.\n",
		},
		"deactivation": {
			Subject: "Your access to the {{.PortalName}} customer portal has ended",
			Body:    "Hello {{.FirstName}},\n\nYour account in the {{.PortalName}} customer portal has been deactivated.{{if .Reason}}\nReason: {{.Reason}}{{end}}\n",
		},
	},
	"de": {
		"invitation": {
			Subject: "Einladung zum Kundenportal von {{.PortalName}}",
			Body: "Hallo {{.FirstName}},\n\nSie wurden zum Kundenportal von {{.PortalName}} eingeladen.\n" +
				"Wählen Sie hier Ihr Passwort:\n\n{{.AcceptURL}}\n\nDer Link gilt einmal und bis {{.ExpiresAt}}.\n",
		},
		"deactivation": {
			Subject: "Ihr Zugang zum Kundenportal von {{.PortalName}} wurde beendet",
			Body:    "Hallo {{.FirstName}},\n\nIhr Konto im Kundenportal von {{.PortalName}} wurde deaktiviert.{{if .Reason}}\nGrund: {{.Reason}}{{end}}\n",
		},
	},
}

// Render returns the subject and body of an email of kind: the operator's
// template when set, else the built-in one of the portal's language.
func Render(settings domain.PortalSettings, kind string, data MailData) (subject, body string, err error) {
	tpl, ok := settings.Templates[kind]
	if !ok {
		lang := settings.Language
		if len(lang) > 2 {
			lang = lang[:2]
		}
		byKind, ok := builtIn[lang]
		if !ok {
			byKind = builtIn["en"]
		}
		tpl = byKind[kind]
	}
	if subject, err = execute(kind+" subject", tpl.Subject, data); err != nil {
		return "", "", err
	}
	body, err = execute(kind+" body", tpl.Body, data)
	return subject, body, err
}

func execute(name, text string, data MailData) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return b.String(), nil
}

// formatExpiry writes an expiry for people, in UTC.
func formatExpiry(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }
