package ui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scanner"
	"github.com/wharf-dev/wharf/internal/trust"
)

// A namespace's trust settings: its key set (cosign public keys, keyless
// identities with the sigstore trusted root they need), its image policy
// (each rule off, warn or enforce) and its vulnerability allowlist, under
// the management API's rules (package mgmt, trust.go and scans.go): anyone
// who may see the namespace reads them (public keys, no secret), its
// admins and system administrators change them. Each change goes through
// the registry's or the scanner's own call and is recorded under the
// API's action names.

type trustPage struct {
	Name   string
	Manage bool
	// The stored settings; KeySet and Policy nil when there are none.
	Settings   registry.TrustSettings
	KeySet     trust.KeySetConfig
	HasRoot    bool
	Policy     policy.ImagePolicy
	Rules      []policyRule
	Severities []string
	Scanning   bool
	Allowlist  []scanner.Allowed
	System     []scanner.Allowed // the system-wide entries, which apply too
	Form       trustForm
}

// policyRule is one rule of the image policy form.
type policyRule struct {
	Rule, Field, Label, Help string
	Mode                     policy.Mode
}

// trustForm keeps what a refused form held, to show it again.
type trustForm struct {
	KeyName, KeyPEM                            string
	Issuer, Subject                            string
	Regexp                                     bool
	AllowID, AllowReason, AllowExpires, Anchor string
}

var modes = []policy.Mode{policy.ModeOff, policy.ModeWarn, policy.ModeEnforce}

func init() { funcs["modes"] = func() []policy.Mode { return modes } }

// maySee checks v may see namespace ns, as the management API's reads do;
// system administrators name any namespace (without access control
// namespaces have no records).
func (h *Handler) maySee(ctx context.Context, v visitor, ns string) error {
	if err := oci.ValidateNamespace(ns); err != nil {
		return invalid("%v", err)
	}
	if v.admin() {
		return nil
	}
	_, err := h.acc.Namespace(ctx, v.caller, ns)
	return err
}

func (h *Handler) trustGet(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	h.trustWith(w, r, v, r.PathValue("ns"), answer{})
}

func (h *Handler) trustWith(w http.ResponseWriter, r *http.Request, v visitor, ns string, a answer) {
	ctx := r.Context()
	if v.refusal != nil {
		h.fail(w, r, v, v.refusal)
		return
	}
	if err := h.maySee(ctx, v, ns); err != nil {
		h.fail(w, r, v, err)
		return
	}
	d := trustPage{Name: ns, Scanning: h.opts.Scanner != nil, Manage: h.manages(ctx, v, ns) == nil}
	if f, ok := a.Data.(trustForm); ok {
		d.Form = f
	}
	var err error
	if d.Settings, err = h.reg.TrustSettings(ctx, ns); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if d.Settings.KeySet != nil {
		d.KeySet = *d.Settings.KeySet
		d.HasRoot = len(d.KeySet.TrustedRoot) > 0
	}
	if d.Settings.Policy != nil {
		d.Policy = *d.Settings.Policy
	}
	d.Policy = d.Policy.WithDefaults()
	d.Rules = []policyRule{
		{policy.RuleRequireSignature, "require_signature", "Require a signature", "by a key or identity of this key set", d.Policy.RequireSignature.Mode},
		{policy.RuleVulnerabilities, "vulnerabilities", "Vulnerabilities", "no finding at or above the severity below, unless allowlisted", d.Policy.Vulnerabilities.Mode},
		{policy.RuleRequireScan, "require_scan", "Require a scan", "every platform image scanned successfully", d.Policy.RequireScan.Mode},
		{policy.RuleRequireSBOM, "require_sbom", "Require an SBOM", "an SBOM stored with the image", d.Policy.RequireSBOM.Mode},
	}
	for _, s := range severities {
		d.Severities = append(d.Severities, string(s))
	}
	if h.opts.Scanner != nil {
		all, err := h.opts.Scanner.Entries(ctx, ns, true)
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		for _, e := range all {
			if e.Namespace == "" {
				d.System = append(d.System, e)
			} else {
				d.Allowlist = append(d.Allowlist, e)
			}
		}
	}
	a.Page, a.Title, a.Data = "trust.html", ns+" trust", d
	h.render(w, r, v, a)
}

// trustChange runs change for a trust form of the namespace, records its
// refusal under action (a change made wrote its event in its transaction),
// and shows the page with the outcome; the page's anchor is where the form
// was.
func (h *Handler) trustChange(w http.ResponseWriter, r *http.Request, action string,
	change func(ctx context.Context, v visitor, ns string) (notice string, err error)) {
	v := h.visitorOf(w, r)
	ns := r.PathValue("ns")
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := mayPost(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	var notice string
	err := h.manages(r.Context(), v, ns)
	if err == nil {
		notice, err = change(r.Context(), v, ns)
	}
	h.record(r, v, action, ns, err)
	if err != nil {
		status, msg := classify(err)
		if status == http.StatusNotFound && !errors.Is(err, errNoSuchEntry) || status == http.StatusForbidden {
			h.fail(w, r, v, err)
			return
		}
		h.trustWith(w, r, v, ns, answer{Status: status, Problem: msg, Data: trustFormOf(r)})
		return
	}
	h.trustWith(w, r, v, ns, answer{Notice: notice})
}

// errNoSuchEntry marks a refusal of an entry (a key, an identity) that is
// not there: the page is shown again with it.
var errNoSuchEntry = errors.New("no such entry")

func missing(format string, args ...any) error {
	err := notFound(format, args...).(*access.Error)
	return errors.Join(err, errNoSuchEntry)
}

func trustFormOf(r *http.Request) trustForm {
	return trustForm{KeyName: strings.TrimSpace(r.PostFormValue("name")), KeyPEM: r.PostFormValue("pem"),
		Issuer: strings.TrimSpace(r.PostFormValue("issuer")), Subject: strings.TrimSpace(r.PostFormValue("subject")), Regexp: checked(r, "regexp"),
		AllowID: strings.TrimSpace(r.PostFormValue("id")), AllowReason: r.PostFormValue("reason"), AllowExpires: r.PostFormValue("expires")}
}

// editKeySet changes namespace ns's key set with edit, unless it changed
// since the page was loaded (the form's version), and stores it; a key
// set left with nothing to trust is removed.
func (h *Handler) editKeySet(ctx context.Context, r *http.Request, ns string, edit func(*trust.KeySetConfig) error) error {
	ts, err := h.reg.TrustSettings(ctx, ns)
	if err != nil {
		return err
	}
	if err := sameVersion(r, ts); err != nil {
		return err
	}
	var cfg trust.KeySetConfig
	if ts.KeySet != nil {
		cfg = *ts.KeySet
	}
	if err := edit(&cfg); err != nil {
		return err
	}
	if len(cfg.Keys) == 0 && len(cfg.Identities) == 0 && cfg.Notation == nil && len(cfg.TrustedRoot) == 0 {
		_, err := h.reg.SetKeySet(ctx, ns, nil)
		return err
	}
	_, err = h.reg.SetKeySet(ctx, ns, &cfg)
	return err
}

// sameVersion refuses a form of settings that changed since its page was
// loaded: its edit would undo the other change.
func sameVersion(r *http.Request, ts registry.TrustSettings) error {
	got := r.PostFormValue("version")
	if got == "" || got == strconv.FormatInt(ts.Version, 10) {
		return nil
	}
	return &access.Error{Kind: access.ErrConflict, Message: "the trust settings of " + ts.Namespace +
		" changed since this page was loaded; the page now shows them: make the change again"}
}

func (h *Handler) addKey(w http.ResponseWriter, r *http.Request) {
	h.trustChange(w, r, "trust.set", func(ctx context.Context, _ visitor, ns string) (string, error) {
		name, pem := strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("pem"))
		if name == "" || pem == "" {
			return "", invalid("a key needs a name and its public key (PEM)")
		}
		err := h.editKeySet(ctx, r, ns, func(c *trust.KeySetConfig) error {
			if slices.ContainsFunc(c.Keys, func(k trust.KeyConfig) bool { return k.Name == name }) {
				return &access.Error{Kind: access.ErrConflict, Message: "the key set of " + ns + " has a key named " + name + " already: remove it first to replace it"}
			}
			c.Keys = append(c.Keys, trust.KeyConfig{Name: name, PEM: pem + "\n"})
			return nil
		})
		return "Key " + name + " is trusted in " + ns + ".", err
	})
}

func (h *Handler) removeKey(w http.ResponseWriter, r *http.Request) {
	h.trustChange(w, r, "trust.set", func(ctx context.Context, _ visitor, ns string) (string, error) {
		name := r.PathValue("name")
		err := h.editKeySet(ctx, r, ns, func(c *trust.KeySetConfig) error {
			i := slices.IndexFunc(c.Keys, func(k trust.KeyConfig) bool { return k.Name == name })
			if i < 0 {
				return missing("the key set of %s has no key %q", ns, name)
			}
			c.Keys = slices.Delete(c.Keys, i, i+1)
			return nil
		})
		return "Key " + name + " is no longer trusted in " + ns + ".", err
	})
}

func (h *Handler) addIdentity(w http.ResponseWriter, r *http.Request) {
	h.trustChange(w, r, "trust.set", func(ctx context.Context, _ visitor, ns string) (string, error) {
		f := trustFormOf(r)
		if f.Issuer == "" || f.Subject == "" {
			return "", invalid("a keyless identity needs the certificate's OIDC issuer and subject (an email or URI)")
		}
		id := trust.IdentityConfig{Issuer: f.Issuer, Subject: f.Subject}
		if f.Regexp {
			id = trust.IdentityConfig{IssuerRegexp: f.Issuer, SubjectRegexp: f.Subject}
		}
		err := h.editKeySet(ctx, r, ns, func(c *trust.KeySetConfig) error {
			if len(c.TrustedRoot) == 0 {
				return invalid("keyless identities need the sigstore trusted root (trusted_root.json) their certificates chain to: set it first")
			}
			if slices.Contains(c.Identities, id) {
				return &access.Error{Kind: access.ErrConflict, Message: "the key set of " + ns + " trusts " + id.String() + " already"}
			}
			c.Identities = append(c.Identities, id)
			return nil
		})
		return "Signatures of " + id.String() + " are trusted in " + ns + ".", err
	})
}

func (h *Handler) removeIdentity(w http.ResponseWriter, r *http.Request) {
	h.trustChange(w, r, "trust.set", func(ctx context.Context, _ visitor, ns string) (string, error) {
		i, convErr := strconv.Atoi(r.PathValue("i"))
		var gone trust.IdentityConfig
		err := h.editKeySet(ctx, r, ns, func(c *trust.KeySetConfig) error {
			if convErr != nil || i < 0 || i >= len(c.Identities) {
				return missing("the key set of %s has no identity %q", ns, r.PathValue("i"))
			}
			gone = c.Identities[i]
			c.Identities = slices.Delete(c.Identities, i, i+1)
			return nil
		})
		return "Signatures of " + gone.String() + " are no longer trusted in " + ns + ".", err
	})
}

// setRoot sets the key set's sigstore trusted root and whether a
// transparency-log entry is required.
func (h *Handler) setRoot(w http.ResponseWriter, r *http.Request) {
	h.trustChange(w, r, "trust.set", func(ctx context.Context, _ visitor, ns string) (string, error) {
		root := strings.TrimSpace(r.PostFormValue("trusted_root"))
		if root != "" && !json.Valid([]byte(root)) {
			return "", invalid("the trusted root is not JSON: paste the whole trusted_root.json")
		}
		err := h.editKeySet(ctx, r, ns, func(c *trust.KeySetConfig) error {
			switch {
			case root != "":
				c.TrustedRoot = json.RawMessage(root)
			case checked(r, "clear_root"):
				if len(c.Identities) > 0 {
					return invalid("the keyless identities need the trusted root: remove them first")
				}
				c.TrustedRoot = nil
			}
			c.RequireTransparencyLog = checked(r, "require_tlog")
			return nil
		})
		return "The key set's transparency settings are saved.", err
	})
}

// deleteKeySet removes the key set: the namespace trusts no signature.
func (h *Handler) deleteKeySet(w http.ResponseWriter, r *http.Request) {
	h.trustChange(w, r, "trust.delete", func(ctx context.Context, _ visitor, ns string) (string, error) {
		ts, err := h.reg.TrustSettings(ctx, ns)
		if err == nil && ts.KeySet == nil {
			err = missing("namespace %s has no key set", ns)
		}
		if err == nil {
			_, err = h.reg.SetKeySet(ctx, ns, nil)
		}
		return "The key set of " + ns + " is removed: no signature is trusted.", err
	})
}

// imagePolicyFrom reads the image policy form.
func imagePolicyFrom(r *http.Request) (policy.ImagePolicy, error) {
	p := policy.ImagePolicy{
		RequireSignature: policy.SignatureRule{Mode: policy.Mode(r.PostFormValue("require_signature"))},
		Vulnerabilities: policy.VulnerabilityRule{Mode: policy.Mode(r.PostFormValue("vulnerabilities")),
			Severity: scan.Severity(r.PostFormValue("severity")), IgnoreUnfixed: checked(r, "ignore_unfixed")},
		RequireScan:      policy.ScanRule{Mode: policy.Mode(r.PostFormValue("require_scan")), ScanFirst: checked(r, "scan_first")},
		RequireSBOM:      policy.SBOMRule{Mode: policy.Mode(r.PostFormValue("require_sbom"))},
		EnforceOnPushers: checked(r, "enforce_on_pushers"),
	}
	if s := strings.TrimSpace(r.PostFormValue("scan_timeout")); s != "" {
		d, err := policy.ParseDuration(s)
		if err != nil {
			return p, invalid("scan timeout: %v", err)
		}
		p.RequireScan.ScanTimeout = d
	}
	return p, nil
}

func (h *Handler) setImagePolicy(w http.ResponseWriter, r *http.Request) {
	h.trustChange(w, r, "image-policy.set", func(ctx context.Context, _ visitor, ns string) (string, error) {
		p, err := imagePolicyFrom(r)
		if err != nil {
			return "", err
		}
		ts, err := h.reg.TrustSettings(ctx, ns)
		if err == nil {
			err = sameVersion(r, ts)
		}
		if err == nil {
			_, err = h.reg.SetImagePolicy(ctx, ns, &p)
		}
		return "The image policy of " + ns + " is saved.", err
	})
}

func (h *Handler) deleteImagePolicy(w http.ResponseWriter, r *http.Request) {
	h.trustChange(w, r, "image-policy.delete", func(ctx context.Context, _ visitor, ns string) (string, error) {
		ts, err := h.reg.TrustSettings(ctx, ns)
		if err == nil && ts.Policy == nil {
			err = missing("namespace %s has no image policy", ns)
		}
		if err == nil {
			_, err = h.reg.SetImagePolicy(ctx, ns, nil)
		}
		return "The image policy of " + ns + " is removed: every rule is off (the system-wide policy still applies).", err
	})
}

// parseExpiry reads an allowlist entry's expiry: a day (the entry holds
// through it, UTC) or an RFC 3339 time; "" for none.
func parseExpiry(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		end := d.AddDate(0, 0, 1)
		return &end, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, invalid("expires %q is not a day (2027-01-31) or a time (2027-01-31T12:00:00Z)", s)
	}
	return &t, nil
}

func (h *Handler) allow(w http.ResponseWriter, r *http.Request) {
	h.trustChange(w, r, "allowlist.add", func(ctx context.Context, v visitor, ns string) (string, error) {
		if h.opts.Scanner == nil {
			return "", notFound("scanning is not enabled on this registry (scanning.enabled)")
		}
		f := trustFormOf(r)
		exp, err := parseExpiry(f.AllowExpires)
		if err != nil {
			return "", err
		}
		a, err := h.opts.Scanner.Allow(ctx, scanner.Allowed{Namespace: ns, ID: f.AllowID, Reason: f.AllowReason, Expires: exp, CreatedBy: v.caller.Account()})
		return a.ID + " is allowlisted in " + ns + ".", serviceError(err, "allowlist entry "+f.AllowID)
	})
}

func (h *Handler) disallow(w http.ResponseWriter, r *http.Request) {
	h.trustChange(w, r, "allowlist.delete", func(ctx context.Context, _ visitor, ns string) (string, error) {
		if h.opts.Scanner == nil {
			return "", notFound("scanning is not enabled on this registry (scanning.enabled)")
		}
		id := r.PathValue("id")
		err := h.opts.Scanner.Disallow(ctx, ns, id)
		if errors.Is(err, meta.ErrNotFound) {
			err = missing("the allowlist of %s has no entry %q", ns, id)
		}
		return id + " is no longer allowlisted in " + ns + ".", err
	})
}
