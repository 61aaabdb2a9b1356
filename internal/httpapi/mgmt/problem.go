package mgmt

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/apierr"
)

// Problem is an RFC 9457 problem detail, the body of every error of the
// management API. Code is wharf's extension member: the apierr code name,
// stable for programs to switch on.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code"`
}

// ProblemType is the prefix of every problem's type URI; the code name,
// lower case, follows it.
const ProblemType = "urn:wharf:problem:"

// RetryError is a refusal the client may retry after a while: a login
// lockout. writeProblem sends After as Retry-After.
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }

// Unwrap returns the refusal.
func (e *RetryError) Unwrap() error { return e.Err }

// unavailableRetryAfter is the Retry-After of a 503, as on /v2: about what
// a store restart or failover takes.
const unavailableRetryAfter = "5"

// scripted says whether r is a page's script calling the API (fetch or
// XMLHttpRequest, whose Sec-Fetch-Mode is cors, same-origin or no-cors),
// typically the web UI whose session ended. Its 401 carries no Basic
// challenge, which would make the browser ask for a password in a dialog
// of its own and hold the script's request until someone answers; the
// page sends its user to sign in instead.
func scripted(r *http.Request) bool {
	m := r.Header.Get("Sec-Fetch-Mode")
	return m != "" && m != "navigate"
}

// writeProblem writes err as problem JSON: an *apierr.Error as it is, any
// other error as 500 with its text kept for the log alone.
func writeProblem(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	e := apierr.From(err)
	if e.Code.Status >= 500 {
		log.ErrorContext(r.Context(), "management request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if e.Code == apierr.Unauthorized && !scripted(r) {
		// Basic works for every client of this API, the CLI included.
		w.Header().Set("WWW-Authenticate", `Basic realm="wharf"`)
	}
	var re *RetryError
	switch {
	case errors.As(err, &re) && re.After > 0:
		w.Header().Set("Retry-After", strconv.FormatInt(int64((re.After+time.Second-1)/time.Second), 10))
	case e.Code.Status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", unavailableRetryAfter)
	}
	p := Problem{
		Type:     ProblemType + strings.ToLower(e.Code.Name),
		Title:    e.Code.Message,
		Status:   e.Code.Status,
		Detail:   e.Message,
		Instance: r.URL.Path,
		Code:     e.Code.Name,
	}
	if p.Detail == p.Title {
		p.Detail = ""
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
