package domain

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail trims, NFC-normalises and lower-cases an address; emails
// are compared in this form, so uniqueness is case-insensitive.
func NormalizeEmail(s string) string {
	return strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
}

// validEmail accepts a bare address (no display name) with a dotted domain.
func validEmail(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 254 || strings.ContainsAny(s, " <>\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// cleanName trims and NFC-normalises a person's or company's name.
func cleanName(s string) string { return norm.NFC.String(strings.TrimSpace(s)) }

func checkName(v *Validation, field, value string, required bool) {
	switch n := utf8.RuneCountInString(value); {
	case n == 0 && required:
		v.Add(field, "is required")
	case n > 200:
		v.Add(field, "must be at most 200 characters")
	case strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		v.Add(field, "must not contain control characters")
	}
}

var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// Slugify derives a URL slug from an organization's name.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(norm.NFKD.String(name)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case r < 0x80 && !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 63 {
		s = strings.Trim(s[:63], "-")
	}
	return s
}

// Password rules, shown to people who choose one.
const (
	MinPasswordLength = 10
	MaxPasswordLength = 256
)

// ValidatePassword checks a new password against the rules.
func ValidatePassword(p string) error {
	var v Validation
	switch n := utf8.RuneCountInString(p); {
	case n < MinPasswordLength:
		v.Add("password", "must be at least 10 characters")
	case n > MaxPasswordLength:
		v.Add("password", "must be at most 256 characters")
	}
	return v.Err()
}
