package mgmt

import (
	"net/http"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
)

// networkRoutes are a namespace's network rules: the CIDR allow-lists of
// pulls and pushes.
var networkRoutes = []route{
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/network-rules", handler: (*Handler).getNetworkRules},
	{method: http.MethodPut, path: "/api/v1/namespaces/{namespace}/network-rules", handler: (*Handler).putNetworkRules},
}

func (h *Handler) network() (*access.Network, error) {
	if h.opts.Network == nil {
		return nil, apierr.New(apierr.NotFound, "network rules need access control (auth.enabled)")
	}
	return h.opts.Network, nil
}

func (h *Handler) getNetworkRules(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	n, err := h.network()
	if err != nil {
		return err
	}
	ns := p["namespace"]
	if ok, err := h.acc.MayManage(r.Context(), c, ns); err != nil {
		return storeError(err, "namespace "+ns)
	} else if !ok {
		return apierr.New(apierr.NotFound, "namespace %s not found", ns)
	}
	rules, err := n.Rules(r.Context(), ns)
	if err != nil {
		return storeError(err, "network rules of "+ns)
	}
	return writeJSON(w, http.StatusOK, rules)
}

func (h *Handler) putNetworkRules(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	n, err := h.network()
	if err != nil {
		return err
	}
	var in access.NetworkRules
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ns := p["namespace"]
	err = storeError(n.SetRules(r.Context(), h.acc, c, ns, in), "namespace "+ns)
	h.refused(r, c, "network-rules.set", ns, err) // the change's event is in its transaction
	if err != nil {
		return err
	}
	rules, err := n.Rules(r.Context(), ns)
	if err != nil {
		return storeError(err, "network rules of "+ns)
	}
	return writeJSON(w, http.StatusOK, rules)
}
