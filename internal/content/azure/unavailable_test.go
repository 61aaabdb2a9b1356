package azure_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/azure"
)

// TestUnavailable runs the driver against a scripted service that fails in
// each way a real one does, which Azurite cannot be made to: failures of
// the service are content.ErrUnavailable, refusals of the request are not.
func TestUnavailable(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		code        string
		unavailable bool
	}{
		{"server busy", http.StatusServiceUnavailable, "ServerBusy", true},
		{"operation timed out", http.StatusInternalServerError, "OperationTimedOut", true},
		{"too many requests", http.StatusTooManyRequests, "", true},
		{"authentication failed", http.StatusForbidden, "AuthenticationFailed", false},
		{"not implemented", http.StatusNotImplemented, "NotImplemented", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failing := false
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !failing { // New lists the container
					w.Header().Set("Content-Type", "application/xml")
					fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs/></EnumerationResults>`)
					return
				}
				w.Header().Set("retry-after-ms", "1") // the SDK's retries would only slow the test
				if tt.code != "" {
					w.Header().Set("x-ms-error-code", tt.code)
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			st, err := azure.New(t.Context(), azure.Options{Endpoint: srv.URL + "/a", AccountName: "a", AccountKey: "a2V5", Container: "c"})
			if err != nil {
				t.Fatal(err)
			}
			failing = true
			_, err = st.Stat(t.Context(), digest.FromString("x"))
			if err == nil || errors.Is(err, content.ErrUnavailable) != tt.unavailable {
				t.Fatalf("Stat: %v; want ErrUnavailable: %v", err, tt.unavailable)
			}
			_, _, err = st.Append(t.Context(), "up1", 0, "", strings.NewReader("hello"))
			if err == nil || errors.Is(err, content.ErrUnavailable) != tt.unavailable {
				t.Fatalf("Append: %v; want ErrUnavailable: %v", err, tt.unavailable)
			}
		})
	}
}
