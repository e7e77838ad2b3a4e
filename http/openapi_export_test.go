package http

import (
	"context"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// OpenAPI loads and validates the OpenAPI document (for the tests, which
// check the suite's traffic against it).
func OpenAPI() (*openapi3.T, error) {
	return loadOpenAPI(openAPIYAML)
}

// OpenAPIJSON is what GET /openapi.json serves.
func OpenAPIJSON() ([]byte, error) { return openAPIJSON() }

// LoadOpenAPI loads and validates a document given as YAML or JSON.
func LoadOpenAPI(b []byte) (*openapi3.T, error) { return loadOpenAPI(b) }

func loadOpenAPI(b []byte) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("load openapi document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi document is invalid: %w", err)
	}
	return doc, nil
}
