package ui

import (
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/trust"
)

// The image page's verdicts, from the registry's image policies
// (registry.Check, what `wharf policy check` and GET /api/v1/…/check show):
// who signed the image and whether the namespace trusts them, and whether
// a pull would be allowed — from the image's own namespace, or another the
// visitor names (would it pass into prod?).

// verdictSection is what the image page shows of a check.
type verdictSection struct {
	Namespace  string // whose policy and key set judged
	Asked      string // the namespace the visitor asked about, if any
	KeySet     string
	Exempt     string
	Allowed    bool
	Refusal    string
	Warnings   []string
	Rules      []ruleRow
	Signatures []signatureRow
	Platforms  []platformSignatures
	SignedBy   string // an index whose signature covers the image
}

type ruleRow struct {
	Rule    string
	Mode    policy.Mode
	Passed  bool
	Message string
}

type signatureRow struct {
	Signature string
	Format    string
	Valid     bool
	Signer    string
	Message   string
}

type platformSignatures struct {
	Digest     string
	Verified   bool
	Signatures []signatureRow
}

func signatureRows(rs []trust.SignatureResult) []signatureRow {
	out := make([]signatureRow, 0, len(rs))
	for _, r := range rs {
		v := r.Verdict()
		row := signatureRow{Signature: v.Signature, Format: string(v.Format), Valid: v.Valid, Message: v.Message}
		if v.Signer != nil {
			row.Signer = v.Signer.String()
		}
		out = append(out, row)
	}
	return out
}

// verdict checks image t against the policy of its namespace, or of the
// namespace the page's ?policy= names when the visitor may see it.
func (h *Handler) verdict(r *http.Request, v visitor, t target) (*verdictSection, error) {
	ctx := r.Context()
	asked := strings.TrimSpace(r.URL.Query().Get("policy"))
	if asked != "" {
		if err := oci.ValidateNamespace(asked); err != nil {
			return nil, invalid("%v", err)
		}
		if _, err := h.acc.Namespace(ctx, v.caller, asked); err != nil && !v.admin() {
			return nil, err
		}
	}
	ic, err := h.reg.Check(ctx, t.Repo, t.ref(), asked)
	if err != nil {
		return nil, err
	}
	return verdictOf(ic, asked), nil
}

func verdictOf(ic *registry.ImageCheck, asked string) *verdictSection {
	vs := &verdictSection{Namespace: ic.Namespace, Asked: asked, KeySet: ic.KeySet, Exempt: ic.Exempt, Allowed: true}
	if ic.SignedIndex != "" {
		vs.SignedBy = string(ic.SignedIndex)
	}
	if refusal := ic.Decision.Refusal(); refusal != nil {
		vs.Allowed, vs.Refusal = false, refusal.Message
	}
	for _, w := range ic.Decision.Warnings() {
		vs.Warnings = append(vs.Warnings, w.Message)
	}
	p := ic.Policy.WithDefaults()
	for _, rule := range policy.Rules {
		row := ruleRow{Rule: rule, Mode: p.Mode(rule), Passed: true}
		for _, viol := range ic.Decision.Violations {
			if viol.Rule == rule {
				row.Passed, row.Message = false, viol.Message
			}
		}
		vs.Rules = append(vs.Rules, row)
	}
	if res := ic.Signatures; res != nil {
		vs.Signatures = signatureRows(res.Signatures)
		for _, child := range res.Children {
			vs.Platforms = append(vs.Platforms, platformSignatures{Digest: string(child.Image), Verified: child.Verified(), Signatures: signatureRows(child.Signatures)})
		}
	}
	return vs
}
