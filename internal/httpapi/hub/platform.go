package hub

import (
	"context"
	"encoding/json"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/oci"
)

// platform is what an image config says of the machine it runs on.
type platform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	Variant      string   `json:"variant"`
	OSVersion    string   `json:"os.version"`
	OSFeatures   []string `json:"os.features"`
}

// unknownPlatform is the platform of what is not an image (a Helm chart, a
// signature): OCI's word for it.
var unknownPlatform = platform{Architecture: "unknown", OS: "unknown"}

// imageConfigTypes are the config media types of images.
var imageConfigTypes = map[string]bool{
	"application/vnd.oci.image.config.v1+json":       true,
	"application/vnd.docker.container.image.v1+json": true,
}

// maxConfigRead bounds how much of a config is read for its platform.
const maxConfigRead = 8 << 20

// platformOf reads the platform of an image from its config blob, once per
// config: configs are content-addressed, so what a digest says never
// changes. A config that cannot be read or decoded gives the unknown
// platform (and is read again next time): a listing should not fail for
// one image.
func (h *Handler) platformOf(ctx context.Context, repo string, config *oci.Descriptor) platform {
	if config == nil || !imageConfigTypes[config.MediaType] {
		return unknownPlatform
	}
	if pf, ok := h.configs.get(config.Digest); ok {
		return pf
	}
	rc, _, err := h.reg.OpenBlob(ctx, repo, config.Digest)
	if err != nil {
		h.log.WarnContext(ctx, "read image config for its platform", "repository", repo, "digest", config.Digest, "err", err)
		return unknownPlatform
	}
	defer rc.Close()
	var pf platform
	if err := json.NewDecoder(io.LimitReader(rc, maxConfigRead)).Decode(&pf); err != nil || pf.OS == "" || pf.Architecture == "" {
		h.log.WarnContext(ctx, "image config names no platform", "repository", repo, "digest", config.Digest, "err", err)
		return unknownPlatform
	}
	h.configs.put(config.Digest, pf)
	return pf
}

// maxPlatforms bounds the platforms kept in memory: a few hundred bytes
// each.
const maxPlatforms = 10000

// platformCache remembers the platforms of image configs.
type platformCache struct {
	mu sync.Mutex
	m  map[digest.Digest]platform
}

func newPlatformCache() *platformCache {
	return &platformCache{m: make(map[digest.Digest]platform)}
}

func (c *platformCache) get(d digest.Digest) (platform, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pf, ok := c.m[d]
	return pf, ok
}

// put remembers pf for d; when full, it forgets an entry first (any: a
// forgotten platform costs one read of a small blob).
func (c *platformCache) put(d digest.Digest, pf platform) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxPlatforms {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[d] = pf
}
