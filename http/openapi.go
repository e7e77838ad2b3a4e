package http

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
)

// openAPIYAML is the contract, written by hand and kept in the repository;
// the HTTP tests validate every request and response against it.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPI loads and validates the OpenAPI document.
func OpenAPI() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("load openapi document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi document is invalid: %w", err)
	}
	return doc, nil
}

// openAPIJSON renders the document once, for GET /openapi.json.
func openAPIJSON() ([]byte, error) {
	doc, err := OpenAPI()
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	if s.openapiJSON == nil {
		writeError(w, r, fmt.Errorf("openapi document unavailable: %w", s.openapiErr))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapiJSON)
}
