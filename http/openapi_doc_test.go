package http_test

import (
	"encoding/json"
	"reflect"
	"testing"

	gatehttp "gatehouse/http"
)

func TestOpenAPIDocumentLoads(t *testing.T) {
	if _, err := gatehttp.OpenAPI(); err != nil {
		t.Fatal(err)
	}
}

// The server renders the YAML document to JSON without kin-openapi: what
// it serves must load as the same document.
func TestOpenAPIJSONIsTheDocument(t *testing.T) {
	served, err := gatehttp.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(served) {
		t.Fatal("GET /openapi.json is not JSON")
	}
	fromJSON, err := gatehttp.LoadOpenAPI(served)
	if err != nil {
		t.Fatalf("served document: %v", err)
	}
	fromYAML, err := gatehttp.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	a, err := json.Marshal(fromJSON)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var av, bv any
	if err := json.Unmarshal(a, &av); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &bv); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(av, bv) {
		t.Fatalf("served document differs from openapi.yaml (%d against %d bytes as JSON)", len(a), len(b))
	}
	if len(fromYAML.Paths.Map()) == 0 {
		t.Fatal("the document has no paths")
	}
}
