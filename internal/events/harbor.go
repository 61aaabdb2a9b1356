package events

import (
	"encoding/json"
	"fmt"
	"strings"
)

// HarborContentType is the content type Harbor posts its webhooks with.
const HarborContentType = "application/json"

// Harbor's webhook payload as its notifier writes it
// (src/pkg/notifier/model/event.go): type, occur_at (unix seconds),
// operator and event_data.
type harborPayload struct {
	Type      string           `json:"type"`
	OccurAt   int64            `json:"occur_at"`
	Operator  string           `json:"operator"`
	EventData *harborEventData `json:"event_data,omitempty"`
}

type harborEventData struct {
	Resources  []harborResource  `json:"resources,omitempty"`
	Repository *harborRepository `json:"repository,omitempty"`
	Retention  *harborRetention  `json:"retention,omitempty"`
	Custom     map[string]string `json:"custom_attributes,omitempty"`
}

type harborResource struct {
	Digest      string `json:"digest,omitempty"`
	Tag         string `json:"tag"`
	ResourceURL string `json:"resource_url,omitempty"`
}

type harborRepository struct {
	DateCreated  int64  `json:"date_created,omitempty"`
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	RepoFullName string `json:"repo_full_name"`
	RepoType     string `json:"repo_type"`
}

type harborRetention struct {
	Total          int    `json:"total"`
	Retained       int    `json:"retained"`
	HarborHostname string `json:"harbor_hostname,omitempty"`
	Status         string `json:"result,omitempty"`
}

// harbor renders e as Harbor does: PUSH_ARTIFACT, PULL_ARTIFACT and
// DELETE_ARTIFACT with the artifact as a resource (its tag, or its digest
// when it has none, as Harbor writes it), QUOTA_EXCEED and QUOTA_WARNING
// with the message in custom_attributes.Details, TAG_RETENTION with the
// run's totals, and PING for a ping.
func (r *Renderer) harbor(e *Event) (string, []byte, error) {
	p := harborPayload{OccurAt: e.At.Unix(), Operator: userName(e.Actor)}
	resource := func(d, tag string) harborResource {
		res := harborResource{Digest: d, Tag: tag}
		if tag == "" {
			res.Tag = d
		}
		if host := r.host(); host != "" {
			sep := ":"
			if tag == "" {
				sep = "@"
			}
			res.ResourceURL = host + "/" + e.Repository + sep + res.Tag
		}
		return res
	}
	switch e.Kind() {
	case KindPing:
		p.Type = "PING"
	case KindArtifactPushed:
		d := dataAs[ArtifactPushed](e.Data)
		tag := ""
		if len(d.Tags) > 0 {
			tag = d.Tags[0]
		}
		p.Type, p.EventData = "PUSH_ARTIFACT", r.harborRepo(e, resource(d.Digest.String(), tag))
	case KindArtifactPulled:
		d := dataAs[ArtifactPulled](e.Data)
		p.Type, p.EventData = "PULL_ARTIFACT", r.harborRepo(e, resource(d.Digest.String(), d.Tag))
	case KindArtifactDeleted:
		d := dataAs[ArtifactDeleted](e.Data)
		tag := ""
		if len(d.Tags) > 0 {
			tag = d.Tags[0]
		}
		p.Type, p.EventData = "DELETE_ARTIFACT", r.harborRepo(e, resource(d.Digest.String(), tag))
	case KindQuotaExceeded:
		d := dataAs[QuotaExceeded](e.Data)
		p.Type, p.EventData = "QUOTA_EXCEED", r.harborRepo(e, harborResource{Digest: d.Digest.String(), Tag: d.Tag})
		p.EventData.Custom = map[string]string{"Details": fmt.Sprintf(
			"adding %d bytes of storage, which when added to the current usage of %d bytes will exceed the limit of %d bytes",
			d.AddingBytes, d.UsedBytes, d.LimitBytes)}
	case KindQuotaWarning:
		d := dataAs[QuotaWarning](e.Data)
		p.Type, p.EventData = "QUOTA_WARNING", r.harborRepo(e, harborResource{Digest: d.Digest.String(), Tag: d.Tag})
		p.EventData.Custom = map[string]string{"Details": fmt.Sprintf(
			"the usage of %d bytes is %d%% or more of the limit of %d bytes", d.UsedBytes, d.Percent, d.LimitBytes)}
	case KindRetentionRun:
		d := dataAs[RetentionRun](e.Data)
		status := "SUCCESS"
		if d.Error != "" {
			status = "FAILED"
		}
		deleted := d.TagsDeleted + d.ManifestsDeleted
		p.Type = "TAG_RETENTION"
		p.EventData = &harborEventData{Retention: &harborRetention{
			Total: deleted + d.Kept, Retained: d.Kept, HarborHostname: r.host(), Status: status}}
	default:
		return "", nil, fmt.Errorf("the harbor format has no %s events", e.Kind())
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", nil, fmt.Errorf("render %s event as a Harbor payload: %w", e.Kind(), err)
	}
	return HarborContentType, b, nil
}

// harborRepo is the event data of an event about a repository, with res
// as its one resource (none if res is empty). Harbor's name is the
// repository's name within its project, its namespace the project.
func (r *Renderer) harborRepo(e *Event, res harborResource) *harborEventData {
	typ := "public"
	if r.Public != nil && !r.Public(e.Namespace) {
		typ = "private"
	}
	name := strings.TrimPrefix(e.Repository, e.Namespace+"/")
	ed := &harborEventData{Repository: &harborRepository{Name: name, Namespace: e.Namespace, RepoFullName: e.Repository, RepoType: typ}}
	if res.Digest != "" || res.Tag != "" {
		ed.Resources = []harborResource{res}
	}
	return ed
}
