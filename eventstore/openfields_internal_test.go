package eventstore

import (
	"bytes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

// openFieldsByMap is how fields were revealed before the splice: the
// whole object through a map and back. The splice must mean the same.
func openFieldsByMap(a cipher.AEAD, data []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	for f, raw := range obj {
		if !bytes.Contains(raw, []byte(sealedMarker)) {
			continue
		}
		var s sealedField
		if err := json.Unmarshal(raw, &s); err != nil || s.Enc == "" {
			continue
		}
		plain, err := openField(a, []byte(f), s)
		if err != nil {
			return nil, err
		}
		obj[f] = plain
	}
	return json.Marshal(obj)
}

func sameJSON(t testing.TB, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("revealed %s is not JSON: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("revealed\n %s\nwant\n %s", got, want)
	}
}

var openFieldsSamples = []string{
	`{"user_id":"u1","email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","properties":{"city":"London","$enc":"not sealed"},"n":12,"ok":true,"none":null}`,
	`{"email": "jürgen@bücher.de", "first_name": "J\"ür\\gen", "last_name": "}{][,", "properties": {"a": [1, {"b": "c"}]}, "x": -1.5e3}`,
	"{ \"email\" : \"a@b.c\" ,\n\t\"first_name\":\"\\u00e9\", \"empty\": {}, \"list\": [] }",
	`{"first_name":"","last_name":null,"email":"only@mail.test"}`,
	`{}`,
}

// testKey is a new user key and its cipher.
func testKey(t testing.TB) ([]byte, cipher.AEAD) {
	t.Helper()
	key, err := NewUserKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, a
}

var sealedNames = []string{"email", "first_name", "last_name", "properties", "list"}

// TestOpenFieldsMeansWhatTheMapDid seals real event shapes, and an erased
// user's (nil cipher), and compares the splice with the map round trip.
func TestOpenFieldsMeansWhatTheMapDid(t *testing.T) {
	key, a := testKey(t)
	for _, sample := range openFieldsSamples {
		sealed, err := SealFields(key, []byte(sample), sealedNames)
		if err != nil {
			t.Fatalf("seal %s: %v", sample, err)
		}
		got, err := openFields(a, sealed)
		if err != nil {
			t.Fatalf("open %s: %v", sealed, err)
		}
		sameJSON(t, got, []byte(sample))
		want, err := openFieldsByMap(a, sealed)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, got, want)

		erased, err := openFields(nil, sealed)
		if err != nil {
			t.Fatalf("open erased %s: %v", sealed, err)
		}
		wantErased, err := openFieldsByMap(nil, sealed)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, erased, wantErased)
		if bytes.Contains(sealed, []byte("ada@example.com")) || (bytes.Contains([]byte(sample), []byte("Lovelace")) && !bytes.Contains(erased, []byte(`"`+Erased+`"`))) {
			t.Fatalf("sealing or erasure failed: %s / %s", sealed, erased)
		}
	}
}

func TestOpenFieldsRefusesWhatItCannotOpen(t *testing.T) {
	key, _ := NewUserKey()
	other, _ := NewUserKey()
	a, _ := aead(other)
	sealed, err := SealFields(key, []byte(`{"email":"a@b.c"}`), []string{"email"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openFields(a, sealed); err == nil {
		t.Fatal("opened with another user's key")
	}
	garbled := []byte(`{"email":{"$enc":"` + base64.RawStdEncoding.EncodeToString([]byte("short")) + `","t":"s"}}`)
	if _, err := openFields(a, garbled); err == nil {
		t.Fatal("opened a malformed sealed field")
	}
	for _, bad := range []string{``, `[]`, `{"a":}`, `{"a":1`, `{"a" 1}`, `{"a":"x}`, `{a:1}`, `{"a":{"b":1}`} {
		if out, err := openFields(a, []byte(bad)); err == nil {
			t.Errorf("%q: no error (got %s)", bad, out)
		}
	}
}

// FuzzOpenFields: whatever the bytes, no panic; where the map round trip
// reads a valid object without repeated names (the store's jsonb has none;
// the map keeps only the last), the splice reads the same.
func FuzzOpenFields(f *testing.F) {
	key, _ := NewUserKey()
	a, _ := aead(key)
	for _, s := range openFieldsSamples {
		sealed, _ := SealFields(key, []byte(s), sealedNames)
		f.Add(sealed)
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := openFields(a, data)
		want, werr := openFieldsByMap(a, data)
		if werr != nil || !json.Valid(data) || repeatsNames(data) {
			return
		}
		if err != nil {
			t.Fatalf("splice refused %s (map read it): %v", data, err)
		}
		sameJSON(t, got, want)
	})
}

func repeatsNames(data []byte) bool {
	seen, repeated := map[string]bool{}, false
	_ = eachTopLevelField(data, func(key []byte, _, _ int) error {
		repeated = repeated || seen[string(key)]
		seen[string(key)] = true
		return nil
	})
	return repeated
}

// TestSealFieldsMeansWhatTheMapDid: sealing splices the values in place of
// unmarshalling into a map and marshalling it again. The result must hold
// the same members: the named non-empty ones sealed with their kind and
// opening to their value, every other one as it was.
func TestSealFieldsMeansWhatTheMapDid(t *testing.T) {
	key, a := testKey(t)
	for _, sample := range openFieldsSamples {
		sealed, err := SealFields(key, []byte(sample), sealedNames)
		if err != nil {
			t.Fatalf("seal %s: %v", sample, err)
		}
		var before, after map[string]json.RawMessage
		if err := json.Unmarshal([]byte(sample), &before); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(sealed, &after); err != nil {
			t.Fatalf("sealed %s is not JSON: %v", sealed, err)
		}
		if len(after) != len(before) {
			t.Fatalf("sealed %s has other members than %s", sealed, sample)
		}
		for name, raw := range before {
			got := after[name]
			isSealed := string(raw) != `""` && string(raw) != "null" && slices.Contains(sealedNames, name)
			if !isSealed {
				sameJSON(t, got, raw)
				continue
			}
			var s sealedField
			if err := json.Unmarshal(got, &s); err != nil || s.Enc == "" {
				t.Fatalf("%s sealed as %s", name, got)
			}
			if wantKind := map[bool]string{true: "s", false: "o"}[raw[0] == '"']; s.Kind != wantKind {
				t.Errorf("%s sealed with kind %q, want %q", name, s.Kind, wantKind)
			}
			plain, err := openField(a, []byte(name), s)
			if err != nil || !bytes.Equal(plain, raw) {
				t.Fatalf("%s opens to %s (%v), want %s", name, plain, err, raw)
			}
		}
	}
	if _, err := SealFields(key, []byte(`["email"]`), sealedNames); err == nil {
		t.Fatal("sealed the fields of a JSON array")
	}
	unchanged := []byte(`{"user_id":"u1","email":""}`)
	if out, err := SealFields(key, unchanged, sealedNames); err != nil || &out[0] != &unchanged[0] {
		t.Fatalf("nothing to seal: got %s (%v), want the same bytes back", out, err)
	}
}

// go test -run '^$' -bench SealFields ./eventstore
func BenchmarkSealFields(b *testing.B) {
	key, err := NewUserKey()
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(openFieldsSamples[0])
	for b.Loop() {
		if _, err := SealFields(key, data, sealedNames); err != nil {
			b.Fatal(err)
		}
	}
}
