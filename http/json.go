package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"gatehouse/domain"
)

// decode reads a JSON body strictly: one object, no unknown fields, right
// types. Every failure is a problem the caller can act on.
func decode(r *http.Request, dst any) error {
	// Bodies are read as JSON whatever they are labelled (curl -d labels
	// JSON as a form); only multipart bodies, which cannot be JSON, are refused.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") {
		return &requestError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", detail: "send the body as application/json"}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return badRequest("malformed_json", "the body must hold exactly one JSON object")
		}
		return nil
	}
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &requestError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", detail: fmt.Sprintf("the body must be at most %d bytes", tooBig.Limit)}
	case errors.Is(err, io.EOF):
		return badRequest("malformed_json", "the body is empty; send a JSON object")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed_json", "the body is not valid JSON: "+err.Error())
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return badRequest("malformed_json", "the body must be a JSON object")
		}
		return invalidField(field, "must be of type "+jsonType(typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalidField(name, "is not a known field")
	}
	return badRequest("malformed_json", "the body could not be read: "+err.Error())
}

func jsonType(kind string) string {
	switch kind {
	case "bool":
		return "boolean"
	case "string":
		return "string"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	}
	return "number"
}

func invalidField(field, msg string) error {
	return &requestError{status: http.StatusUnprocessableEntity, code: "validation_failed", detail: "the request has invalid fields",
		fields: []domain.FieldError{{Field: field, Message: msg}}}
}

// decodeOptional is decode for bodies that may be absent.
func decodeOptional(r *http.Request, dst any) error {
	if r.ContentLength == 0 && r.Header.Get("Transfer-Encoding") == "" {
		return nil
	}
	return decode(r, dst)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeResource answers with a versioned resource and its ETag.
func writeResource(w http.ResponseWriter, status, version int, v any) {
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(version)))
	writeJSON(w, status, v)
}

// ifMatch reads If-Match as a version: 3, "3" or W/"3".
func ifMatch(r *http.Request) (*int, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return nil, nil
	}
	v, err := strconv.Atoi(strings.Trim(strings.TrimPrefix(h, "W/"), `"`))
	if err != nil || v < 0 {
		return nil, badRequest("invalid_if_match", "If-Match must be a resource version, such as 3")
	}
	return &v, nil
}
