package projections

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/google/uuid"
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

// FuzzSpellUUID: an id sent in binary is spelt as its usual text, and one
// sent as text is left as it is.
func FuzzSpellUUID(f *testing.F) {
	f.Add([]byte("0123456789abcdef"))
	f.Add([]byte("01a210d8-a68c-72e3-b0f3-049449a2ea04"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		got := string(spellUUID([]byte("x"), v))
		want := "x" + string(v)
		if len(v) == 16 {
			want = "x" + uuid.UUID(v).String()
		}
		if got != want {
			t.Fatalf("spellUUID(%x) = %q, want %q", v, got, want)
		}
	})
}

func TestSpellBoolInEitherFormat(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
	}{{[]byte{1}, "true"}, {[]byte{0}, "false"}, {[]byte("t"), "true"}, {[]byte("f"), "false"}, {nil, ""}} {
		if got := string(spellBool(c.in)); got != c.want {
			t.Errorf("spellBool(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if spellBool(nil) != nil {
		t.Error("a null flag became a value")
	}
}
