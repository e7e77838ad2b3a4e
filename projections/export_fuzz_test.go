package projections

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// FuzzNeutralize checks the export's cell rule on arbitrary text: a cell
// never starts with a formula character unless it was quoted, and the
// CSV round-trips.
func FuzzNeutralize(f *testing.F) {
	for _, s := range []string{"=1+1", "+x", "-2", "@SUM(A1)", "\tx", "\rx", "plain", "", "a,b\"c\nd", "Zoë"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := neutralize(s)
		if out != "" && strings.ContainsRune("=+-@\t\r", rune(out[0])) {
			t.Fatalf("neutralize(%q) = %q starts with a formula character", s, out)
		}
		if out != s && out != "'"+s {
			t.Fatalf("neutralize(%q) = %q changed more than a prefix", s, out)
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.Write([]string{out, "x"})
		w.Flush()
		rows, err := csv.NewReader(&b).ReadAll()
		if err != nil || len(rows) != 1 || rows[0][1] != "x" {
			t.Fatalf("csv round trip of %q: %v %v", out, rows, err)
		}
	})
}
