package mgmt

import (
	_ "embed"
	"net/http"

	"github.com/wharf-dev/wharf/internal/access"
)

// openAPIDocument describes every route in [routes].
//
//go:embed openapi.json
var openAPIDocument []byte

func (h *Handler) openAPI(w http.ResponseWriter, _ *http.Request, _ access.Caller, _ params) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPIDocument)
	return err
}
