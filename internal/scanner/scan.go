package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/extract"
	"github.com/wharf-dev/wharf/internal/scan/imagefs"
	"github.com/wharf-dev/wharf/internal/scan/sbom"
)

const (
	sourceLayers = "layers"
	sourceSBOM   = "sbom "
	// generatedBy marks the SBOMs and reports wharf writes, so that a
	// rescan reads the layers again rather than its own SBOM.
	annotationGenerator = "dev.wharf.generator"
)

// scanManifest scans manifest d of repo and returns the result to store.
// It returns an error only when the scan could not be done for a reason
// other than the image (a store unreachable, ctx done).
func (s *Service) scanManifest(ctx context.Context, repo string, d digest.Digest) (meta.Scan, error) {
	m, err := s.reg.Manifest(ctx, repo, oci.Reference{Digest: d})
	if err != nil {
		if apierr.Is(err, apierr.ManifestUnknown) || apierr.Is(err, apierr.NameUnknown) {
			return meta.Scan{State: meta.ScanUnsupported, Error: "the manifest is gone"}, nil
		}
		return meta.Scan{}, err
	}
	if extract.IsIndex(m.MediaType) {
		return meta.Scan{State: meta.ScanUnsupported, Error: "an index: its platform images are scanned one by one"}, nil
	}
	pkgs, problems, source, err := s.packages(ctx, repo, d, m.Payload)
	switch {
	case errors.Is(err, extract.ErrNotImage):
		return meta.Scan{State: meta.ScanUnsupported, Error: "not a container image: " + err.Error()}, nil
	case errors.Is(err, imagefs.ErrBadLayer), errors.Is(err, imagefs.ErrLimit), errors.Is(err, errBadSBOM):
		return meta.Scan{State: meta.ScanFailed, Error: err.Error(), Source: source}, nil
	case err != nil:
		return meta.Scan{}, err
	}
	res := meta.Scan{State: meta.ScanScanned, Source: source}
	if res.Packages, err = json.Marshal(pkgs); err != nil {
		return meta.Scan{}, err
	}
	if res.Problems, err = json.Marshal(problems); err != nil {
		return meta.Scan{}, err
	}
	findings := []scan.Finding{}
	if idx, ref, ok := s.live.Index(); ok {
		findings = idx.Match(pkgs)
		res.DataVersion = ref.Digest
	}
	if res.Findings, err = json.Marshal(findings); err != nil {
		return meta.Scan{}, err
	}
	res.Counts, res.Highest = severityCounts(findings)
	return res, nil
}

var errBadSBOM = errors.New("unreadable SBOM")

// packages returns the packages of image manifest d: from an SBOM its
// owner pushed as a referrer when there is one, from its layers otherwise.
func (s *Service) packages(ctx context.Context, repo string, d digest.Digest, payload []byte) ([]scan.Package, []extract.Problem, string, error) {
	doc, docDigest, err := s.pushedSBOM(ctx, repo, d)
	if err != nil {
		return nil, nil, "", err
	}
	if doc != nil {
		source := sourceSBOM + docDigest.String()
		pkgs, _, err := sbom.Parse(doc)
		doc.Close()
		if err != nil {
			return nil, nil, source, fmt.Errorf("%w %s: %v", errBadSBOM, docDigest, err)
		}
		return pkgs, nil, source, nil
	}
	layers, err := extract.Layers(payload, func(ctx context.Context, dg string) (io.ReadCloser, error) {
		rc, _, err := s.reg.OpenBlob(ctx, repo, digest.Digest(dg))
		if apierr.Is(err, apierr.BlobUnknown) {
			return nil, fmt.Errorf("%w: layer %s is not stored", imagefs.ErrBadLayer, dg)
		}
		return rc, err
	})
	if err != nil {
		return nil, nil, sourceLayers, err
	}
	res, err := extract.Image(ctx, layers, s.opts.Extract)
	if err != nil {
		return nil, nil, sourceLayers, err
	}
	return res.Packages, res.Problems, sourceLayers, nil
}

// pushedSBOM opens the document of an SPDX or CycloneDX referrer of d that
// wharf did not write, if there is one.
func (s *Service) pushedSBOM(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, digest.Digest, error) {
	refs, err := s.reg.Referrers(ctx, repo, d, "")
	if err != nil {
		return nil, "", err
	}
	for _, ref := range refs {
		if !isSBOMType(ref.ArtifactType) || ref.Annotations[annotationGenerator] != "" {
			continue
		}
		m, err := s.reg.Manifest(ctx, repo, oci.Reference{Digest: ref.Digest})
		if err != nil {
			continue // deleted since it was listed
		}
		pm, err := oci.ParseManifest(m.MediaType, m.Payload)
		if err != nil || len(pm.Layers) == 0 {
			continue
		}
		doc := pm.Layers[0]
		rc, _, err := s.reg.OpenBlob(ctx, repo, doc.Digest)
		if err != nil {
			return nil, "", err
		}
		return rc, ref.Digest, nil
	}
	return nil, "", nil
}

// isSBOMType reports whether an artifact type is an SPDX or CycloneDX
// JSON document.
func isSBOMType(t string) bool {
	t = strings.ToLower(t)
	return strings.HasPrefix(t, "application/spdx+json") || strings.HasPrefix(t, "application/vnd.cyclonedx+json") ||
		t == "text/spdx+json"
}
