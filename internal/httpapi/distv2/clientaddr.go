package distv2

import (
	"net/http"
	"net/netip"
)

// ClientAddr is the address a request came from, read through the trusted
// proxies' X-Forwarded-For, for other handlers (the management API) to
// count logins and audit by the same address /v2 does.
func (h *Handler) ClientAddr(r *http.Request) netip.Addr { return h.clientAddr(r) }
