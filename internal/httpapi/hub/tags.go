package hub

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// hubTime is a time as Docker Hub writes it: UTC, microseconds.
type hubTime time.Time

func (t hubTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000000Z") + `"`), nil
}

// optTime is t, or null when zero.
func optTime(t time.Time) *hubTime {
	if t.IsZero() {
		return nil
	}
	ht := hubTime(t)
	return &ht
}

// optString is s, or null when empty, as Docker Hub writes absent fields.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// tagJSON is a tag as Docker Hub lists it.
type tagJSON struct {
	Name          string      `json:"name"`
	Digest        string      `json:"digest"`
	MediaType     string      `json:"media_type"`
	FullSize      int64       `json:"full_size"`
	Images        []imageJSON `json:"images"`
	LastUpdated   hubTime     `json:"last_updated"`
	TagLastPushed hubTime     `json:"tag_last_pushed"`
	TagLastPulled *hubTime    `json:"tag_last_pulled"`
	TagStatus     string      `json:"tag_status"`
	V2            bool        `json:"v2"`
}

// imageJSON is one platform's image of a tag.
type imageJSON struct {
	Architecture string   `json:"architecture"`
	Features     *string  `json:"features"`
	Variant      *string  `json:"variant"`
	Digest       string   `json:"digest"`
	OS           string   `json:"os"`
	OSFeatures   *string  `json:"os_features"`
	OSVersion    *string  `json:"os_version"`
	Size         int64    `json:"size"`
	Status       string   `json:"status"`
	LastPulled   *hubTime `json:"last_pulled"`
	LastPushed   *hubTime `json:"last_pushed"`
}

// activeWithin: an image or tag pushed or pulled this recently is
// "active", as Docker Hub says of one used in the past month.
const activeWithin = 30 * 24 * time.Hour

func (h *Handler) status(times ...time.Time) string {
	since := h.now().Add(-activeWithin)
	for _, t := range times {
		if t.After(since) {
			return "active"
		}
	}
	return "inactive"
}

// tagsPage is a page of tags.
type tagsPage = page[tagJSON]

// listTags serves GET /v2/repositories/NS/REPO/tags/.
func (h *Handler) listTags(w http.ResponseWriter, r *http.Request, rt route) error {
	pq, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	if err := h.authorize(r, rt.namespace, rt.repo); err != nil {
		return err
	}
	ctx := r.Context()
	inv, err := h.reg.Inventory(ctx, rt.repo)
	if err != nil {
		return fromRegistry(err, repoInfo(rt.namespace, rt.repo))
	}
	tags := inv.Tags
	if pq.name != "" {
		tags = slices.DeleteFunc(slices.Clone(tags), func(t meta.Tag) bool { return !strings.Contains(t.Name, pq.name) })
	}
	slices.SortFunc(tags, func(a, b meta.Tag) int { return pq.less(a.Name, a.UpdatedAt, b.Name, b.UpdatedAt) })
	from, to, err := pq.window(len(tags))
	if err != nil {
		return err
	}
	results, err := h.describeTags(ctx, rt.repo, tags[from:to], manifestsOf(inv))
	if err != nil {
		return err
	}
	out := &tagsPage{Count: len(tags), Results: results}
	h.links(r, pq, len(tags), out)
	return writeJSON(w, r, out)
}

// getTag serves GET /v2/repositories/NS/REPO/tags/TAG/.
func (h *Handler) getTag(w http.ResponseWriter, r *http.Request, rt route) error {
	t, inv, err := h.findTag(r, rt)
	if err != nil {
		return err
	}
	results, err := h.describeTags(r.Context(), rt.repo, []meta.Tag{t}, manifestsOf(inv))
	if err != nil {
		return err
	}
	return writeJSON(w, r, results[0])
}

// deleteTag serves DELETE /v2/repositories/NS/REPO/tags/TAG/: the tag goes,
// through the registry service as a DELETE on /v2 does (immutable tags
// stay), and its manifest stays for retention or garbage collection.
func (h *Handler) deleteTag(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := oci.ValidateTag(rt.tag); err != nil {
		return badRequest(err.Error(), tagInfo(rt))
	}
	if err := h.authorize(r, rt.namespace, rt.repo, auth.ActionDelete); err != nil {
		return err
	}
	err := h.reg.DeleteManifest(r.Context(), rt.repo, oci.Reference{Tag: rt.tag})
	if err != nil {
		return tagError(err, rt)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// findTag authorises a read of tag rt.tag and finds it.
func (h *Handler) findTag(r *http.Request, rt route) (meta.Tag, meta.Inventory, error) {
	if err := oci.ValidateTag(rt.tag); err != nil {
		return meta.Tag{}, meta.Inventory{}, badRequest(err.Error(), tagInfo(rt))
	}
	if err := h.authorize(r, rt.namespace, rt.repo); err != nil {
		return meta.Tag{}, meta.Inventory{}, err
	}
	inv, err := h.reg.Inventory(r.Context(), rt.repo)
	if err != nil {
		return meta.Tag{}, meta.Inventory{}, fromRegistry(err, repoInfo(rt.namespace, rt.repo))
	}
	i, ok := slices.BinarySearchFunc(inv.Tags, rt.tag, func(t meta.Tag, name string) int { return strings.Compare(t.Name, name) })
	if !ok {
		return meta.Tag{}, meta.Inventory{}, notFound("tag '"+rt.tag+"' not found", tagInfo(rt))
	}
	return inv.Tags[i], inv, nil
}

func tagInfo(rt route) map[string]string {
	info := repoInfo(rt.namespace, rt.repo)
	info["tag"] = rt.tag
	return info
}

// tagError translates a registry error about tag rt.tag.
func tagError(err error, rt route) error {
	he := fromRegistry(err, tagInfo(rt)).(*hubError)
	if he.status == http.StatusNotFound {
		he.message = "tag '" + rt.tag + "' not found"
	}
	return he
}

func manifestsOf(inv meta.Inventory) map[digest.Digest]meta.InventoryManifest {
	out := make(map[digest.Digest]meta.InventoryManifest, len(inv.Manifests))
	for _, m := range inv.Manifests {
		out[m.Digest] = m
	}
	return out
}

// describeWorkers bounds the tags described at once: the first listing of
// a page reads up to a hundred image configs from the content store.
const describeWorkers = 8

// describeTags describes tags, in order, a few at a time.
func (h *Handler) describeTags(ctx context.Context, repo string, tags []meta.Tag, manifests map[digest.Digest]meta.InventoryManifest) ([]tagJSON, error) {
	out := make([]tagJSON, len(tags))
	errs := make([]error, len(tags))
	sem := make(chan struct{}, describeWorkers)
	var wg sync.WaitGroup
	for i, t := range tags {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = h.describeTag(ctx, repo, t, manifests)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// describeTag is tag t as Docker Hub lists it: its images are the platforms
// of an index (attestations left out), or the image it names.
func (h *Handler) describeTag(ctx context.Context, repo string, t meta.Tag, manifests map[digest.Digest]meta.InventoryManifest) (tagJSON, error) {
	m, err := h.reg.Manifest(ctx, repo, oci.Reference{Digest: t.Digest})
	if err != nil {
		return tagJSON{}, err
	}
	pulled := manifests[t.Digest].PulledAt
	out := tagJSON{
		Name: t.Name, Digest: t.Digest.String(), MediaType: m.MediaType, Images: []imageJSON{},
		LastUpdated: hubTime(t.UpdatedAt), TagLastPushed: hubTime(t.UpdatedAt), TagLastPulled: optTime(pulled),
		TagStatus: h.status(t.UpdatedAt, pulled), V2: true,
	}
	parsed, err := oci.ParseManifest(m.MediaType, m.Payload)
	if err != nil {
		return out, nil // stored as pushed, but not parsed now: no images to show
	}
	if !parsed.IsIndex() {
		img, err := h.describeImage(ctx, repo, t.Digest, parsed, nil, manifests)
		if err != nil {
			return tagJSON{}, err
		}
		out.Images = append(out.Images, img)
	}
	for _, c := range parsed.Manifests {
		if isAttestation(c) {
			continue
		}
		cm, err := h.reg.Manifest(ctx, repo, oci.Reference{Digest: c.Digest})
		if err != nil {
			return tagJSON{}, err
		}
		cp, err := oci.ParseManifest(cm.MediaType, cm.Payload)
		if err != nil || cp.IsIndex() {
			continue
		}
		img, err := h.describeImage(ctx, repo, c.Digest, cp, c.Platform, manifests)
		if err != nil {
			return tagJSON{}, err
		}
		out.Images = append(out.Images, img)
	}
	out.FullSize = fullSize(out.Images)
	return out, nil
}

// isAttestation reports whether an index entry is not a platform's image:
// the attestations BuildKit adds have the platform unknown/unknown.
func isAttestation(d oci.Descriptor) bool {
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// fullSize is the size Docker Hub gives a tag: its linux/amd64 image's, or
// the first image's.
func fullSize(images []imageJSON) int64 {
	for _, im := range images {
		if im.OS == "linux" && im.Architecture == "amd64" {
			return im.Size
		}
	}
	if len(images) > 0 {
		return images[0].Size
	}
	return 0
}

// describeImage is image manifest m (digest d) as one of a tag's images:
// its platform as the index lists it, or as its config says; its size,
// the compressed layers; when it was pushed to the repository and pulled.
func (h *Handler) describeImage(ctx context.Context, repo string, d digest.Digest, m *oci.Manifest, listed *v1.Platform, manifests map[digest.Digest]meta.InventoryManifest) (imageJSON, error) {
	var size int64
	for _, l := range m.Layers {
		size += l.Size
	}
	var pf platform
	if listed != nil {
		pf = platform{Architecture: listed.Architecture, OS: listed.OS, Variant: listed.Variant,
			OSVersion: listed.OSVersion, OSFeatures: listed.OSFeatures}
	} else {
		pf = h.platformOf(ctx, repo, m.Config)
	}
	inv := manifests[d]
	return imageJSON{
		Architecture: pf.Architecture, Variant: optString(pf.Variant), OS: pf.OS,
		OSVersion: optString(pf.OSVersion), OSFeatures: optString(strings.Join(pf.OSFeatures, ",")),
		Digest: d.String(), Size: size, Status: h.status(inv.CreatedAt, inv.PulledAt),
		LastPulled: optTime(inv.PulledAt), LastPushed: optTime(inv.CreatedAt),
	}, nil
}
