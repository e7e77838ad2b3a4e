package projections

import (
	"bufio"
	"strings"
	"testing"
)

func TestWriteCellDefusesFormulasInFreeText(t *testing.T) {
	cases := []struct {
		in       string
		freeText bool
		want     string
	}{
		{"=1+1", true, "'=1+1"}, {"+1", true, "'+1"}, {"-1", true, "'-1"}, {"@x", true, "'@x"},
		{"\tx", true, "'\tx"}, {"\rx", true, "\"'\rx\""}, {"=a,b", true, "\"'=a,b\""},
		{"plain", true, "plain"}, {"", true, ""}, {"a=b", true, "a=b"}, {" =x", true, "\" =x\""},
		{"say \"hi\"", true, "\"say \"\"hi\"\"\""}, {"-1", false, "-1"}, {"2026-01-02T03:04:05Z", false, "2026-01-02T03:04:05Z"},
	}
	for _, c := range cases {
		var b strings.Builder
		w := bufio.NewWriter(&b)
		writeCell(w, []byte(c.in), c.freeText)
		w.Flush()
		if b.String() != c.want {
			t.Errorf("writeCell(%q, %v) = %q, want %q", c.in, c.freeText, b.String(), c.want)
		}
	}
}
