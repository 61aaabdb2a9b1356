package ui

import (
	"net/http"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/proxy"
)

// A proxy namespace's upstream (a pull-through cache), under the
// management API's rules (package mgmt, upstreams.go): its admins read it,
// system administrators set it, since it holds credentials and makes the
// registry fetch from wherever it points. The password is write-only.

type upstreamPage struct {
	Namespace string
	Status    proxy.Status
	// Set: the visitor may change the upstream.
	Set  bool
	Form upstreamForm
}

type upstreamForm struct {
	URL, Username, TagCheckInterval string
	AllowPush, Default              bool
}

func formOfUpstream(s proxy.Status) upstreamForm {
	return upstreamForm{URL: s.URL, Username: s.Username, TagCheckInterval: policy.Duration(s.TagCheckInterval).String(),
		AllowPush: s.AllowPush, Default: s.Default}
}

func (h *Handler) upstreamGet(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.signInFirst(w, r, v) {
		h.upstreamWith(w, r, v, r.PathValue("ns"), answer{})
	}
}

func (h *Handler) upstreamWith(w http.ResponseWriter, r *http.Request, v visitor, ns string, a answer) {
	ctx := r.Context()
	err := v.refusal
	if err == nil && h.opts.Proxy == nil {
		err = notFound("pull-through caches are not available on this server")
	}
	if err == nil && !v.admin() {
		_, err = h.acc.ManagedNamespace(ctx, v.caller, ns)
	}
	var s proxy.Status
	if err == nil {
		s, err = h.opts.Proxy.Upstream(ctx, ns)
		err = serviceError(err, "the upstream of "+ns)
	}
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d := upstreamPage{Namespace: ns, Status: s, Set: v.admin() && v.csrf != "", Form: formOfUpstream(s)}
	if f, ok := a.Data.(upstreamForm); ok {
		d.Form = f
	}
	a.Page, a.Title, a.Data = "upstream.html", ns+" upstream", d
	h.render(w, r, v, a)
}

// upstreamFrom reads the upstream form: the configuration and the form to
// show again.
func upstreamFrom(r *http.Request) (proxy.Config, upstreamForm, error) {
	f := upstreamForm{URL: redactedURL(strings.TrimSpace(r.PostFormValue("url"))), Username: strings.TrimSpace(r.PostFormValue("username")),
		TagCheckInterval: strings.TrimSpace(r.PostFormValue("tag_check_interval")), AllowPush: checked(r, "allow_push"), Default: checked(r, "default")}
	cfg := proxy.Config{URL: strings.TrimSpace(r.PostFormValue("url")), Username: f.Username, AllowPush: f.AllowPush, Default: f.Default}
	if p := r.PostFormValue("password"); p != "" {
		cfg.Password = &p
	} else if checked(r, "clear_password") {
		cfg.Password = new(string)
	}
	if f.TagCheckInterval != "" {
		d, err := policy.ParseDuration(f.TagCheckInterval)
		if err != nil {
			return cfg, f, invalid("check tags every: %v", err)
		}
		td := time.Duration(d)
		cfg.TagCheckInterval = &td
	}
	return cfg, f, nil
}

// setUpstream sets a proxy namespace's upstream, as PUT
// /api/v1/namespaces/{ns}/upstream does.
func (h *Handler) setUpstream(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	ns := r.PathValue("ns")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := mayPost(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	ctx := r.Context()
	cfg, f, err := upstreamFrom(r)
	var aerr error
	switch {
	case h.opts.Proxy == nil:
		aerr = notFound("pull-through caches are not available on this server")
	case !v.admin():
		if _, aerr = h.acc.Namespace(ctx, v.caller, ns); aerr == nil {
			aerr = denied("upstreams are set by system administrators: they hold credentials and make the registry fetch from another")
		}
	}
	if aerr != nil {
		err = aerr
	} else if err == nil {
		_, err = h.opts.Proxy.SetUpstream(ctx, ns, cfg)
		err = serviceError(err, "the upstream of "+ns)
	}
	h.record(r, v, "upstream.set", ns, err) // an upstream set wrote its event in its transaction
	if err != nil {
		status, msg := classify(err)
		if aerr != nil || status == http.StatusNotFound {
			h.fail(w, r, v, err)
			return
		}
		h.upstreamWith(w, r, v, ns, answer{Status: status, Problem: msg, Data: f})
		return
	}
	h.upstreamWith(w, r, v, ns, answer{Notice: "The upstream of " + ns + " is saved."})
}
