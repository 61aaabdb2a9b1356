package mgmt

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes every route in [routes].
//
//go:embed openapi.json
var openAPIDocument []byte

func (h *Handler) openAPI(w http.ResponseWriter, _ *http.Request, _ caller, _ params) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPIDocument)
	return err
}
