package domain

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// emailDomains maps and checks the domain of an address as a host name
// (UTS #46 lookup rules, labels of at most 63 bytes).
var emailDomains = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true))

// NormalizeEmail gives an address the one form it is stored and compared
// in, so uniqueness is case-insensitive and independent of how the address
// was typed: trimmed, NFC-normalised and lower-cased, with an
// internationalised domain mapped by IDNA (UTS #46) and kept in its Unicode
// form — "ADA@Bücher.DE", "ada@xn--bcher-kva.de" and a full-width
// "ａｄａ@bücher.de" domain all become "ada@bücher.de". Delivery uses
// EmailForDelivery, which spells the domain in ASCII.
func NormalizeEmail(s string) string {
	s = strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	d, err := emailDomains.ToUnicode(s[at+1:])
	if err != nil {
		return s // validEmail refuses it
	}
	return s[:at+1] + d
}

// EmailForDelivery is a normalised address with its domain in ASCII
// (punycode), as SMTP servers without SMTPUTF8 need it.
func EmailForDelivery(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	d, err := emailDomains.ToASCII(s[at+1:])
	if err != nil {
		return s
	}
	return s[:at+1] + d
}

// validEmail accepts a bare address (no display name) with a dotted domain
// that is a valid (possibly internationalised) host name.
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
	ascii, err := emailDomains.ToASCII(domain)
	if err != nil || len(ascii) > 253 || !strings.Contains(ascii, ".") {
		return false
	}
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
	if msg := PasswordProblem(p); msg != "" {
		v.Add("password", msg)
	}
	return v.Err()
}

// PasswordProblem says which rule p breaks, or "" when it keeps them.
func PasswordProblem(p string) string {
	switch n := utf8.RuneCountInString(p); {
	case n < MinPasswordLength:
		return "must be at least 10 characters"
	case n > MaxPasswordLength:
		return "must be at most 256 characters"
	}
	return ""
}
