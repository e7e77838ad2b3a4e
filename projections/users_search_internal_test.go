package projections

import "testing"

func TestPrefixEndIsTheLeastStringAboveThePrefix(t *testing.T) {
	for _, c := range []struct{ prefix, want string }{
		{"abc", "abd"},
		{"a\u007f", "a\u0080"},
		{"zo\u00eb", "zo\u00ec"},
		{"a\ud7ff", "a\ue000"},
		{"a\U0010ffff", "b"},
		{"\U0010ffff", ""},
		{"", ""},
	} {
		if got := prefixEnd([]rune(c.prefix)); got != c.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", c.prefix, got, c.want)
		}
		if got := prefixEnd([]rune(c.prefix)); got != "" && got <= c.prefix+"\U0010ffff" {
			t.Errorf("prefixEnd(%q) = %q is not above every string that starts with the prefix", c.prefix, got)
		}
	}
}

func TestLocalPartRangeOnlyForOneAtWithALocalPart(t *testing.T) {
	for _, c := range []struct {
		q, from, to string
		ok          bool
	}{
		{"bob@example.com", "bob", "boc", true},
		{"jim@", "mij", "mik", true},
		{"zoë@b", "ëoz", "ëo{", true},
		{"@example.com", "", "", false},
		{"a@b@c", "", "", false},
		{"plain", "", "", false},
	} {
		from, to, ok := localPartRange(c.q)
		if from != c.from || to != c.to || ok != c.ok {
			t.Errorf("localPartRange(%q) = %q, %q, %v; want %q, %q, %v", c.q, from, to, ok, c.from, c.to, c.ok)
		}
	}
}
