package http_test

import (
	"testing"

	gatehttp "gatehouse/http"
)

func TestOpenAPIDocumentLoads(t *testing.T) {
	if _, err := gatehttp.OpenAPI(); err != nil {
		t.Fatal(err)
	}
}
