// Package sbom writes software bills of materials for an image, in SPDX 2.3
// JSON and CycloneDX 1.6 JSON, from the packages extraction found, and reads
// SPDX and CycloneDX documents back into packages, so that a pushed SBOM can
// be matched against advisories as extraction's output is.
//
// Documents are deterministic: the same image and packages give the same
// bytes (the creation time is the caller's), so an SBOM stored as a
// referrer changes only when its content does.
package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"bitbucket.org/creachadair/stringset"
	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	spdxlicense "github.com/google/osv-scalibr/converter/spdx"
	"github.com/google/uuid"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/wharf-dev/wharf/internal/scan"
)

// Media types of the documents, the artifactType of an SBOM referrer.
const (
	MediaTypeSPDX      = "application/spdx+json"
	MediaTypeCycloneDX = "application/vnd.cyclonedx+json"
)

// Image is what a document describes.
type Image struct {
	// Repository is the image's name, with its registry host
	// ("registry.example.com/team/app").
	Repository string
	// Digest is the manifest digest of the image (one platform's manifest
	// for a multi-arch index).
	Digest string
	// Platform is "os/arch[/variant]", when known.
	Platform string
}

// Options are the document's provenance. Created is required.
type Options struct {
	Created time.Time
	// Tool names the creator, such as "wharf-1.4.0".
	Tool string
	// NamespaceBase prefixes SPDX document namespaces
	// ("https://registry.example.com/spdx"); each document's namespace
	// adds the repository and digest.
	NamespaceBase string
}

func (o Options) tool() string {
	if o.Tool == "" {
		return "wharf"
	}
	return o.Tool
}

// imagePURL is the image's package URL (type oci).
func (img Image) purl() string {
	name := img.Repository
	host := ""
	if i := strings.IndexByte(name, '/'); i > 0 && strings.ContainsAny(name[:i], ".:") {
		host = name[:i]
	}
	base := name[strings.LastIndexByte(name, '/')+1:]
	u := "pkg:oci/" + url.PathEscape(strings.ToLower(base)) + "@" + url.PathEscape(img.Digest)
	var q []string
	if _, arch, ok := strings.Cut(img.Platform, "/"); ok {
		q = append(q, "arch="+url.QueryEscape(arch))
	}
	if host != "" || name != base {
		q = append(q, "repository_url="+url.QueryEscape(name))
	}
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	return u
}

var spdxIDInvalid = regexp.MustCompile(`[^a-zA-Z0-9.-]`)

// packageID returns a stable SPDX id / bom-ref for the i-th package.
func packageID(i int, p scan.Package) string {
	h := sha256.Sum256([]byte(p.Key()))
	return "Package-" + strconv.Itoa(i+1) + "-" + spdxIDInvalid.ReplaceAllString(p.Name, "-") + "-" + hex.EncodeToString(h[:6])
}

// sourceInfo says where a package was found, for humans.
func sourceInfo(p scan.Package) string {
	var parts []string
	if p.Path != "" {
		parts = append(parts, "found in "+p.Path)
	}
	if p.Layer >= 0 && p.LayerDigest != "" {
		parts = append(parts, fmt.Sprintf("layer %d (%s)", p.Layer, p.LayerDigest))
	}
	if p.Extractor != "" {
		parts = append(parts, "by "+p.Extractor)
	}
	return strings.Join(parts, ", ")
}

// WriteSPDX writes an SPDX 2.3 JSON document describing the image and
// its packages.
func WriteSPDX(w io.Writer, img Image, pkgs []scan.Package, opts Options) error {
	base := strings.TrimSuffix(opts.NamespaceBase, "/")
	if base == "" {
		base = "https://wharf.invalid/spdx"
	}
	root := &spdx.Package{
		PackageName:             img.Repository,
		PackageSPDXIdentifier:   "Image",
		PackageVersion:          img.Digest,
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PackageExternalReferences: []*spdx.PackageExternalReference{
			{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: img.purl()},
		},
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      img.Repository + "@" + img.Digest,
		DocumentNamespace: base + "/" + img.Repository + "@" + img.Digest,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: opts.tool()}},
			Created:  opts.Created.UTC().Format(time.RFC3339),
		},
		Packages: []*spdx.Package{root},
		Relationships: []*spdx.Relationship{{
			RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", "Image"), Relationship: "DESCRIBES",
		}},
	}
	others := stringset.New()
	for i, p := range pkgs {
		id := packageID(i, p)
		expr, custom := spdxlicense.LicenseExpression(p.Licenses)
		others.Update(custom)
		sp := &spdx.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   common.ElementID(id),
			PackageVersion:          p.Version,
			PackageDownloadLocation: "NOASSERTION",
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  expr,
			PackageCopyrightText:    "NOASSERTION",
			PackageSourceInfo:       sourceInfo(p),
			PrimaryPackagePurpose:   "LIBRARY",
		}
		if p.PURL != "" {
			sp.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: p.PURL}}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", "Image"), RefB: common.MakeDocElementID("", id), Relationship: "CONTAINS",
		})
	}
	if others.Len() > 0 {
		doc.OtherLicenses = spdxlicense.ToOtherLicenses(others)
	}
	return spdxjson.Write(doc, w, spdxjson.Indent(" "), spdxjson.EscapeHTML(false))
}

// WriteCycloneDX writes a CycloneDX 1.6 JSON document describing the image
// and its packages. Each component carries the layer that brought it as
// the properties wharf:layer and wharf:layer_digest.
func WriteCycloneDX(w io.Writer, img Image, pkgs []scan.Package, opts Options) error {
	serial := uuid.NewSHA1(uuid.NameSpaceURL, []byte(img.Repository+"@"+img.Digest))
	rootRef := img.purl()
	bom := cyclonedx.NewBOM()
	bom.SpecVersion = cyclonedx.SpecVersion1_6
	bom.SerialNumber = "urn:uuid:" + serial.String()
	bom.Metadata = &cyclonedx.Metadata{
		Timestamp: opts.Created.UTC().Format(time.RFC3339),
		Tools: &cyclonedx.ToolsChoice{Components: &[]cyclonedx.Component{{
			Type: cyclonedx.ComponentTypeApplication, Name: opts.tool(),
		}}},
		Component: &cyclonedx.Component{
			BOMRef: rootRef, Type: cyclonedx.ComponentTypeContainer,
			Name: img.Repository, Version: img.Digest, PackageURL: rootRef,
		},
	}
	components := make([]cyclonedx.Component, 0, len(pkgs))
	deps := make([]string, 0, len(pkgs))
	for i, p := range pkgs {
		ref := packageID(i, p)
		c := cyclonedx.Component{
			BOMRef: ref, Type: cyclonedx.ComponentTypeLibrary,
			Name: p.Name, Version: p.Version, PackageURL: p.PURL,
		}
		if len(p.Licenses) > 0 {
			lic := make(cyclonedx.Licenses, 0, len(p.Licenses))
			for _, l := range p.Licenses {
				lic = append(lic, cyclonedx.LicenseChoice{License: &cyclonedx.License{Name: l}})
			}
			c.Licenses = &lic
		}
		if p.Path != "" {
			c.Evidence = &cyclonedx.Evidence{Occurrences: &[]cyclonedx.EvidenceOccurrence{{Location: p.Path}}}
		}
		props := []cyclonedx.Property{}
		add := func(name, value string) {
			if value != "" {
				props = append(props, cyclonedx.Property{Name: name, Value: value})
			}
		}
		if p.Layer >= 0 {
			add("wharf:layer", strconv.Itoa(p.Layer))
		}
		add("wharf:layer_digest", p.LayerDigest)
		add("wharf:ecosystem", p.Ecosystem)
		add("wharf:source_name", p.SourceName)
		add("wharf:source_version", p.SourceVersion)
		add("wharf:extractor", p.Extractor)
		if len(props) > 0 {
			c.Properties = &props
		}
		components = append(components, c)
		deps = append(deps, ref)
	}
	bom.Components = &components
	bom.Dependencies = &[]cyclonedx.Dependency{{Ref: rootRef, Dependencies: &deps}}
	enc := cyclonedx.NewBOMEncoder(w, cyclonedx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	return enc.EncodeVersion(bom, cyclonedx.SpecVersion1_6)
}

// sniff is enough of a JSON document to tell SPDX from CycloneDX.
type sniff struct {
	SPDXVersion string `json:"spdxVersion"`
	BOMFormat   string `json:"bomFormat"`
}

func detect(b []byte) (string, error) {
	var s sniff
	if err := json.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("not a JSON SBOM: %w", err)
	}
	switch {
	case strings.HasPrefix(s.SPDXVersion, "SPDX-2."):
		return MediaTypeSPDX, nil
	case s.BOMFormat == "CycloneDX":
		return MediaTypeCycloneDX, nil
	}
	return "", fmt.Errorf("not an SPDX 2.x or CycloneDX JSON document")
}
