package mgmt

import (
	"net/http"
	"strconv"

	"github.com/wharf-dev/wharf/internal/access"
)

// GCReport is what a garbage collection run did, as the API shows it.
type GCReport struct {
	DryRun           bool    `json:"dryRun"`
	Reviewed         int     `json:"reviewed"`
	BlobsDeleted     int     `json:"blobsDeleted"`
	ManifestsDeleted int     `json:"manifestsDeleted"`
	BytesFreed       int64   `json:"bytesFreed"`
	Kept             int     `json:"kept"`
	Deferred         int     `json:"deferred"`
	Errors           int     `json:"errors"`
	Seconds          float64 `json:"seconds"`
}

// collectGarbage answers POST /gc: one garbage collection run now, or with
// dryRun=true a report of what it would delete. System administrators only;
// the run takes as long as it takes, and the report comes when it ends.
func (h *Handler) collectGarbage(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	if !c.SystemAdmin() {
		return denied("running garbage collection needs a system administrator")
	}
	dryRun := false
	if s := r.URL.Query().Get("dryRun"); s != "" {
		var err error
		if dryRun, err = strconv.ParseBool(s); err != nil {
			return invalid("dryRun %q is not true or false", truncate(s))
		}
	}
	if h.opts.CollectGarbage == nil {
		return invalid("garbage collection is not available on this server")
	}
	rep, err := h.opts.CollectGarbage(r.Context(), dryRun) // a run records its gc.run event
	if err != nil {
		return storeError(err, "garbage collection")
	}
	return writeJSON(w, http.StatusOK, rep)
}
