package mgmt

import (
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/meta"
)

// AuditEvent is an audit record as the API shows it.
type AuditEvent struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Client string    `json:"client"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Result string    `json:"result"`
	Detail string    `json:"detail,omitempty"`
}

// queryAudit answers GET /audit: events newest first, filtered by actor,
// action, target (a prefix), result, since and until (RFC 3339), paged by
// before (the next cursor) and n.
func (h *Handler) queryAudit(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	if !c.SystemAdmin() {
		return denied("reading the audit log needs a system administrator")
	}
	v := r.URL.Query()
	q := meta.AuditQuery{Actor: v.Get("actor"), Action: v.Get("action"), TargetPrefix: v.Get("target"), Result: v.Get("result")}
	var err error
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := v.Get(t.name); s != "" {
			if *t.dst, err = time.Parse(time.RFC3339, s); err != nil {
				return invalid("%s %q is not an RFC 3339 time such as 2025-01-02T15:04:05Z", t.name, truncate(s))
			}
		}
	}
	if s := v.Get("before"); s != "" {
		if q.BeforeID, err = strconv.ParseInt(s, 10, 64); err != nil || q.BeforeID < 1 {
			return invalid("before %q is not an event id", truncate(s))
		}
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	q.N = p.N
	es, err := h.acc.AuditEvents(r.Context(), c, q)
	if err != nil {
		return accessError(err)
	}
	res := List[AuditEvent]{Items: []AuditEvent{}}
	for _, e := range es {
		res.Items = append(res.Items, AuditEvent(e))
	}
	if len(es) == p.N {
		res.Next = strconv.FormatInt(es[len(es)-1].ID, 10)
	}
	return writeJSON(w, http.StatusOK, res)
}
