package projections

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// FuzzWriteCell checks the export's cells on arbitrary text: each is
// written exactly as encoding/csv writes the defused text, reads back as
// it, and a free-text cell never starts with a formula character.
func FuzzWriteCell(f *testing.F) {
	for _, s := range []string{"=1+1", "+x", "-2", "@SUM(A1)", "\tx", "\rx", "plain", "", "a,b\"c\nd", "Zoë", " x", "\\.", "\"", "x\"\"y"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, freeText bool) {
		want := s
		if freeText && s != "" && strings.ContainsRune(formulaStarts, rune(s[0])) {
			want = "'" + s
		}
		var got bytes.Buffer
		w := bufio.NewWriter(&got)
		writeCell(w, []byte(s), freeText)
		w.WriteString(",x\n")
		w.Flush()
		var ref bytes.Buffer
		cw := csv.NewWriter(&ref)
		_ = cw.Write([]string{want, "x"})
		cw.Flush()
		if got.String() != ref.String() {
			t.Fatalf("writeCell(%q, %v) wrote %q, encoding/csv writes %q", s, freeText, got.String(), ref.String())
		}
		rows, err := csv.NewReader(&got).ReadAll()
		if err != nil || len(rows) != 1 || rows[0][1] != "x" {
			t.Fatalf("csv round trip of %q: %v %v", s, rows, err)
		}
		if freeText && rows[0][0] != "" && strings.ContainsRune(formulaStarts, rune(rows[0][0][0])) {
			t.Fatalf("free text %q reads back as %q, which starts with a formula character", s, rows[0][0])
		}
	})
}
