package events

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Format is a webhook payload format.
type Format string

// The payload formats.
const (
	// FormatCloudEvents is a CloudEvents 1.0 event in the structured JSON
	// format (application/cloudevents+json): every kind.
	FormatCloudEvents Format = "cloudevents"
	// FormatDistribution is the notification envelope of the CNCF
	// distribution registry (application/vnd.docker.distribution.events.v2+json),
	// for receivers built for its notifications: pushes, pulls and deletes.
	FormatDistribution Format = "distribution"
	// FormatHarbor is Harbor's webhook payload: artifact pushes, pulls and
	// deletes, quota and retention.
	FormatHarbor Format = "harbor"
)

// Formats lists the formats, the default first.
var Formats = []Format{FormatCloudEvents, FormatDistribution, FormatHarbor}

// formatKinds lists, for the formats that do not render every kind, the
// kinds they render.
var formatKinds = map[Format][]Kind{
	FormatDistribution: {KindArtifactPushed, KindArtifactPulled, KindArtifactDeleted, KindTagDeleted, KindBlobDeleted, KindRepositoryDeleted},
	FormatHarbor:       {KindArtifactPushed, KindArtifactPulled, KindArtifactDeleted, KindQuotaExceeded, KindQuotaWarning, KindRetentionRun},
}

// ParseFormat returns the format named s, or an error listing the formats.
func ParseFormat(s string) (Format, error) {
	f := Format(s)
	if slices.Contains(Formats, f) {
		return f, nil
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("format %q is not one of %s", s, strings.Join(names, ", "))
}

// Supports reports whether f renders events of kind k.
func (f Format) Supports(k Kind) bool {
	ks, limited := formatKinds[f]
	return !limited || slices.Contains(ks, k)
}

// SupportedKinds lists the kinds f renders, nil meaning every kind.
func (f Format) SupportedKinds() []Kind { return formatKinds[f] }

// Renderer renders events in the payload formats. Its fields describe this
// registry, as the formats name it.
type Renderer struct {
	// ExternalURL is where clients reach the registry
	// ("https://registry.example.com"): the CloudEvents source, and the
	// base of the links in the distribution and Harbor formats. Empty
	// leaves the links out and makes the source "wharf".
	ExternalURL string
	// Addr and InstanceID identify this process in the distribution
	// format's source record.
	Addr, InstanceID string
	// Public reports whether a namespace is public, for Harbor's
	// repo_type; nil makes every repository public (no access control).
	Public func(namespace string) bool
}

// Render returns the content type and body of e in format f. It fails for
// a kind f does not render.
func (r *Renderer) Render(f Format, e *Event) (string, []byte, error) {
	if e.Kind() != KindPing && !f.Supports(e.Kind()) {
		return "", nil, fmt.Errorf("the %s format has no %s events", f, e.Kind())
	}
	switch f {
	case FormatCloudEvents:
		return r.cloudEvent(e)
	case FormatDistribution:
		return r.distribution(e)
	case FormatHarbor:
		return r.harbor(e)
	}
	return "", nil, fmt.Errorf("unknown format %q", f)
}

// host is the host (and port) of ExternalURL, "" if it is unset.
func (r *Renderer) host() string {
	u, err := url.Parse(r.ExternalURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// userName is the actor's name as registries that know only users write
// it: the user name alone for a user, the principal otherwise.
func userName(a Actor) string {
	if name, ok := strings.CutPrefix(a.Name, "user:"); ok {
		return name
	}
	return a.Name
}

// dataAs returns d as a *T, whether d holds a T or a *T: events built in
// this process may hold either, decoded ones hold pointers. A d of another
// type gives a zero T, so a renderer never dereferences nil.
func dataAs[T any](d Data) *T {
	switch v := any(d).(type) {
	case *T:
		if v != nil {
			return v
		}
	case T:
		return &v
	}
	return new(T)
}
