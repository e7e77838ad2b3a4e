package domain

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"testing"
)

// decodedTypes lists the event types decoderFor knows, read from its
// switch, so a type added there is covered here without a second list.
func decodedTypes(t testing.TB) []string {
	src, err := os.ReadFile("events.go")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, m := range regexp.MustCompile(`case "(\w+)":\n\t\treturn decodeAs\[`).FindAllSubmatch(src, -1) {
		types = append(types, string(m[1]))
	}
	if len(types) < 30 {
		t.Fatalf("found %d event types in events.go, expected every one of decoderFor's", len(types))
	}
	return types
}

// FuzzDecodeAgreesWithEncodingJSON: for any valid JSON (what a jsonb
// column gives back) and any event type, DecodeEvent fails exactly when
// encoding/json fails, and otherwise gives the value encoding/json gives.
func FuzzDecodeAgreesWithEncodingJSON(f *testing.F) {
	types := decodedTypes(f)
	seeds := []string{
		`{}`,
		`{"user_id":"u-1","org_id":"o","email":"ada@example.test","first_name":"Ada","last_name":"Lovelace","properties":{"plan":"gold","seats":3,"tags":["a","b"],"x":null},"portal_access":true}`,
		`{"invitation_id":"i","token_hash":"ab","expires_at":"2026-11-25T02:49:00.123456Z","sealed_token":"s"}`,
		`{"USER_ID":"upper","Email":"case@example.test"}`,
		`{"user_id":"a","user_id":"b"}`,
		`{"permissions":{"tickets.view":true,"tickets.edit":false}}`,
		`{"settings":{"templates":{"invitation":{"subject":"s","body":"b"}}},"changed":["x"]}`,
		`{"expires_at":"not a time"}`,
		`{"portal_access":"yes"}`,
		`{"properties":[1,2]}`,
		`{"first_name":"\u00e9\ud83d\ude00\u0000","last_name":"\\\"quoted\""}`,
		`{"user_id":null,"properties":null,"changed":null}`,
		`{"seats":1e400}`,
		`[]`, `"x"`, `null`, `1`,
	}
	for _, typ := range types {
		for _, s := range seeds {
			f.Add(typ, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		if !json.Valid(data) {
			return
		}
		decode, ok := decoderFor(typ)
		if !ok {
			return
		}
		zero, err := decode([]byte(`{}`))
		if err != nil {
			t.Fatalf("%s: {} does not decode: %v", typ, err)
		}
		want := reflect.New(reflect.TypeOf(zero))
		wantErr := json.Unmarshal(data, want.Interface())
		got, gotErr := decode(data)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%s %s: encoding/json says %v, DecodeEvent says %v", typ, data, wantErr, gotErr)
		}
		if wantErr == nil && !reflect.DeepEqual(want.Elem().Interface(), got) {
			t.Fatalf("%s %s:\nencoding/json %#v\nDecodeEvent   %#v", typ, data, want.Elem().Interface(), got)
		}
	})
}
