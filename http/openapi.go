package http

import (
	_ "embed"
	"fmt"
	"net/http"

	"sigs.k8s.io/yaml"
)

// openAPIYAML is the contract, written by hand and kept in the repository;
// the HTTP tests load it with kin-openapi, validate it, and check every
// request and response of the suite against it. The server only serves it:
// loading it with kin-openapi at run time pulled that library's JSON
// Schema package into every start of the binary (17 ms of package
// initialisation, a tenth of a CLI export's wall time before it reads a row).
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON renders the document once, for GET /openapi.json.
func openAPIJSON() ([]byte, error) {
	b, err := yaml.YAMLToJSON(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("render openapi document: %w", err)
	}
	return b, nil
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	if s.openapiJSON == nil {
		writeError(w, r, fmt.Errorf("openapi document unavailable: %w", s.openapiErr))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapiJSON)
}
