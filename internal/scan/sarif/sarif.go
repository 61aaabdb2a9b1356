// Package sarif writes vulnerability findings as a SARIF 2.1.0 log, the
// format code-scanning tools read (GitHub code scanning, GitLab, Azure
// DevOps): one rule per advisory, one result per finding, located at the
// image and the file the package was found in.
package sarif

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/wharf-dev/wharf/internal/scan"
)

// Image is the findings of one image (one platform image of an index).
type Image struct {
	// Name is how the image is named: repository@digest.
	Name     string
	Platform string
	Findings []scan.Finding
}

type log struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []run  `json:"runs"`
}

type run struct {
	Tool    tool     `json:"tool"`
	Results []result `json:"results"`
}

type tool struct {
	Driver driver `json:"driver"`
}

type driver struct {
	Name           string `json:"name"`
	Version        string `json:"version,omitempty"`
	InformationURI string `json:"informationUri"`
	Rules          []rule `json:"rules"`
}

type text struct {
	Text string `json:"text"`
}

type rule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name,omitempty"`
	ShortDescription text           `json:"shortDescription"`
	HelpURI          string         `json:"helpUri,omitempty"`
	Properties       map[string]any `json:"properties,omitempty"`
}

type result struct {
	RuleID     string         `json:"ruleId"`
	Level      string         `json:"level"`
	Message    text           `json:"message"`
	Locations  []location     `json:"locations"`
	Properties map[string]any `json:"properties,omitempty"`
}

type location struct {
	PhysicalLocation physical `json:"physicalLocation"`
}

type physical struct {
	ArtifactLocation artifact `json:"artifactLocation"`
}

type artifact struct {
	URI string `json:"uri"`
}

// level is SARIF's level for a severity.
func level(s scan.Severity) string {
	switch s {
	case scan.Critical, scan.High:
		return "error"
	case scan.Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the score GitHub ranks results by.
func securitySeverity(f scan.Finding) string {
	if f.Score > 0 {
		return strconv.FormatFloat(f.Score, 'f', 1, 64)
	}
	return map[scan.Severity]string{scan.Critical: "9.5", scan.High: "8.0", scan.Medium: "5.5", scan.Low: "2.0"}[f.Severity]
}

// Write writes the findings of images as one SARIF run of tool version.
func Write(w io.Writer, version string, images []Image) error {
	rules := map[string]rule{}
	results := []result{}
	for _, img := range images {
		for _, f := range img.Findings {
			if _, ok := rules[f.ID]; !ok {
				r := rule{ID: f.ID, ShortDescription: text{f.ID + " in " + f.Package.Name}, HelpURI: "https://osv.dev/vulnerability/" + f.ID,
					Properties: map[string]any{"security-severity": securitySeverity(f), "tags": []string{"security", "vulnerability", string(f.Severity)}}}
				if f.Summary != "" {
					r.ShortDescription.Text = f.Summary
				}
				if cves := f.CVEs(); len(cves) > 0 {
					r.Name = cves[0]
				}
				rules[f.ID] = r
			}
			msg := fmt.Sprintf("%s: %s %s is installed", f.ID, f.Package.Name, f.Installed)
			if f.Fixed != "" {
				msg += ", fixed in " + f.Fixed
			} else {
				msg += "; no fix is published"
			}
			msg += fmt.Sprintf(" (severity %s, image %s", f.Severity, img.Name)
			if img.Platform != "" {
				msg += ", " + img.Platform
			}
			msg += ")"
			uri := img.Name
			if f.Package.Path != "" {
				uri += "/" + f.Package.Path
			}
			results = append(results, result{RuleID: f.ID, Level: level(f.Severity), Message: text{msg},
				Locations: []location{{physical{artifact{uri}}}},
				Properties: map[string]any{"package": f.Package.Name, "installed": f.Installed, "fixed": f.Fixed,
					"aliases": f.Aliases, "layer": f.Layer, "layerDigest": f.LayerDigest, "image": img.Name, "platform": img.Platform}})
		}
	}
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	d := driver{Name: "wharf", Version: version, InformationURI: "https://github.com/wharf-dev/wharf", Rules: []rule{}}
	for _, id := range ids {
		d.Rules = append(d.Rules, rules[id])
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0",
		Runs: []run{{Tool: tool{Driver: d}, Results: results}}})
}
