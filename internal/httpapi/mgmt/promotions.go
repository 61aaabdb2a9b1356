package mgmt

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/promotion"
)

// promotionRoutes are the promotion endpoints: promote, the records, the
// requests waiting for approvals, and each namespace's gates.
var promotionRoutes = []route{
	{method: http.MethodPost, path: "/api/v1/promotions", handler: (*Handler).promote},
	{method: http.MethodGet, path: "/api/v1/promotions", handler: (*Handler).listPromotions},
	{method: http.MethodGet, path: "/api/v1/promotions/{id}", handler: (*Handler).getPromotion},
	{method: http.MethodGet, path: "/api/v1/promotion-requests", handler: (*Handler).listPromotionRequests},
	{method: http.MethodPost, path: "/api/v1/promotion-requests/{id}/approve", handler: (*Handler).approvePromotion},
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/promotion-policy", handler: (*Handler).getPromotionPolicy},
	{method: http.MethodPut, path: "/api/v1/namespaces/{namespace}/promotion-policy", handler: (*Handler).putPromotionPolicy},
	{method: http.MethodDelete, path: "/api/v1/namespaces/{namespace}/promotion-policy", handler: (*Handler).deletePromotionPolicy},
}

// RefusedProblem is the problem of a refused promotion: every gate with
// its result and evidence, and the record of the refusal.
type RefusedProblem struct {
	Problem
	Gates  []promotion.GateResult `json:"gates"`
	Record *promotion.Record      `json:"record,omitempty"`
}

func (h *Handler) promotions() (*promotion.Service, error) {
	if h.opts.Promotion == nil {
		return nil, apierr.New(apierr.NotFound, "promotion is not available on this registry")
	}
	return h.opts.Promotion, nil
}

// promote runs one promotion: 201 with the record when it is done, 202
// with the request when it waits for approvals, 403 naming every failed
// gate when it is refused.
func (h *Handler) promote(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	svc, err := h.promotions()
	if err != nil {
		return err
	}
	var in promotion.Request
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := svc.Promote(r.Context(), c, in)
	return writePromotion(w, r, res, err)
}

// writePromotion writes the outcome of a promotion or an approval.
func writePromotion(w http.ResponseWriter, r *http.Request, res promotion.Result, err error) error {
	var refused *promotion.Refused
	if errors.As(err, &refused) {
		p := RefusedProblem{Problem: Problem{
			Type: ProblemType + "denied", Title: apierr.Denied.Message, Status: http.StatusForbidden,
			Detail: refused.Error(), Instance: r.URL.Path, Code: apierr.Denied.Name,
		}, Gates: refused.Result.Gates, Record: refused.Result.Record}
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(p.Status)
		return json.NewEncoder(w).Encode(p)
	}
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.State == promotion.StatePending {
		status = http.StatusAccepted
	}
	return writeJSON(w, status, res)
}

func (h *Handler) listPromotions(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	svc, err := h.promotions()
	if err != nil {
		return err
	}
	v := r.URL.Query()
	q := meta.PromotionQuery{Namespace: v.Get("namespace"), Repository: v.Get("repository"), TargetTag: v.Get("tag"), Result: v.Get("result")}
	if d := v.Get("digest"); d != "" {
		if q.Digest, err = digest.Parse(d); err != nil {
			return invalid("digest %q: %v", d, err)
		}
	}
	for name, dst := range map[string]*int64{"before": &q.BeforeID} {
		if s := v.Get(name); s != "" {
			if *dst, err = strconv.ParseInt(s, 10, 64); err != nil || *dst <= 0 {
				return invalid("%s: want a positive record id", name)
			}
		}
	}
	if s := v.Get("n"); s != "" {
		if q.N, err = strconv.Atoi(s); err != nil || q.N <= 0 || q.N > 1000 {
			return invalid("n: want 1 to 1000")
		}
	}
	switch q.Result {
	case "", meta.PromotionPromoted, meta.PromotionRefused, meta.PromotionFailed:
	default:
		return invalid("result %q: want promoted, refused or failed", q.Result)
	}
	recs, err := svc.Records(r.Context(), c, q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"promotions": recs})
}

func (h *Handler) getPromotion(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	svc, err := h.promotions()
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(p["id"], 10, 64)
	if err != nil || id <= 0 {
		return invalid("promotion id %q: want a positive number", p["id"])
	}
	rec, err := svc.Record(r.Context(), c, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rec)
}

func (h *Handler) listPromotionRequests(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	svc, err := h.promotions()
	if err != nil {
		return err
	}
	state := r.URL.Query().Get("state")
	switch state {
	case "", meta.RequestPending, meta.RequestPromoted, meta.RequestRefused:
	default:
		return invalid("state %q: want pending, promoted or refused", state)
	}
	reqs, err := svc.Requests(r.Context(), c, state, 0)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"requests": reqs})
}

func (h *Handler) approvePromotion(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	svc, err := h.promotions()
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(p["id"], 10, 64)
	if err != nil || id <= 0 {
		return invalid("request id %q: want a positive number", p["id"])
	}
	var in struct {
		Comment string `json:"comment"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &in); err != nil {
			return err
		}
	}
	res, err := svc.Approve(r.Context(), c, id, strings.TrimSpace(in.Comment))
	return writePromotion(w, r, res, err)
}

func (h *Handler) getPromotionPolicy(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	svc, err := h.promotions()
	if err != nil {
		return err
	}
	pol, err := svc.Policy(r.Context(), c, p["namespace"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pol)
}

func (h *Handler) putPromotionPolicy(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	svc, err := h.promotions()
	if err != nil {
		return err
	}
	var in promotion.Policy
	if err := decode(w, r, &in); err != nil {
		return err
	}
	err = svc.SetPolicy(r.Context(), c, p["namespace"], &in)
	h.refused(r, c, "promotion-policy.set", p["namespace"], err) // the change's event is in its transaction
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, in)
}

func (h *Handler) deletePromotionPolicy(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	svc, err := h.promotions()
	if err != nil {
		return err
	}
	err = svc.SetPolicy(r.Context(), c, p["namespace"], nil)
	h.refused(r, c, "promotion-policy.delete", p["namespace"], err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
