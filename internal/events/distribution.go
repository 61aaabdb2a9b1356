package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// DistributionContentType is the media type of the CNCF distribution
// registry's notification envelope.
const DistributionContentType = "application/vnd.docker.distribution.events.v2+json"

// The envelope as distribution's notifications package writes it
// (notifications/event.go): receivers built for it decode these fields.
type distEnvelope struct {
	Events []distEvent `json:"events"`
}

type distEvent struct {
	ID        string      `json:"id,omitempty"`
	Timestamp time.Time   `json:"timestamp,omitempty"`
	Action    string      `json:"action,omitempty"`
	Target    distTarget  `json:"target,omitempty"`
	Request   distRequest `json:"request,omitempty"`
	Actor     distActor   `json:"actor,omitempty"`
	Source    distSource  `json:"source,omitempty"`
}

type distTarget struct {
	MediaType  string        `json:"mediaType,omitempty"`
	Size       int64         `json:"size,omitempty"`
	Digest     digest.Digest `json:"digest,omitempty"`
	Length     int64         `json:"length,omitempty"`
	Repository string        `json:"repository,omitempty"`
	URL        string        `json:"url,omitempty"`
	Tag        string        `json:"tag,omitempty"`
}

type distRequest struct {
	ID        string `json:"id"`
	Addr      string `json:"addr,omitempty"`
	Host      string `json:"host,omitempty"`
	Method    string `json:"method"`
	UserAgent string `json:"useragent"`
}

type distActor struct {
	Name string `json:"name,omitempty"`
}

type distSource struct {
	Addr       string `json:"addr,omitempty"`
	InstanceID string `json:"instanceID,omitempty"`
}

// distribution renders e as a one-event envelope, as distribution sends
// them: push and pull of a manifest (a pull event stands for Count pulls),
// and delete of a manifest, a tag, a blob link or a repository. A ping is
// an envelope with no events.
func (r *Renderer) distribution(e *Event) (string, []byte, error) {
	env := distEnvelope{Events: []distEvent{}}
	if e.Kind() != KindPing {
		de := distEvent{ID: e.ID, Timestamp: e.At, Target: distTarget{Repository: e.Repository},
			Actor:  distActor{Name: userName(e.Actor)},
			Source: distSource{Addr: r.Addr, InstanceID: r.InstanceID}}
		if q := e.Actor.Request; q != nil {
			de.Request = distRequest{ID: q.ID, Host: q.Host, Method: q.Method, UserAgent: q.UserAgent}
		}
		de.Request.Addr = e.Actor.Client
		manifest := func(d digest.Digest, mediaType string, size int64, tag string) {
			de.Target.MediaType, de.Target.Digest, de.Target.Size, de.Target.Length, de.Target.Tag = mediaType, d, size, size, tag
			if r.ExternalURL != "" {
				de.Target.URL = r.ExternalURL + "/v2/" + e.Repository + "/manifests/" + d.String()
			}
		}
		switch e.Kind() {
		case KindArtifactPushed:
			d := dataAs[ArtifactPushed](e.Data)
			de.Action = "push"
			tag := ""
			if len(d.Tags) > 0 {
				tag = d.Tags[0]
			}
			manifest(d.Digest, d.MediaType, d.Size, tag)
		case KindArtifactPulled:
			d := dataAs[ArtifactPulled](e.Data)
			de.Action = "pull"
			manifest(d.Digest, d.MediaType, d.Size, d.Tag)
		case KindArtifactDeleted:
			de.Action, de.Target.Digest = "delete", dataAs[ArtifactDeleted](e.Data).Digest
		case KindTagDeleted:
			de.Action, de.Target.Tag = "delete", dataAs[TagDeleted](e.Data).Tag
		case KindBlobDeleted:
			de.Action, de.Target.Digest = "delete", dataAs[BlobDeleted](e.Data).Digest
		case KindRepositoryDeleted:
			de.Action = "delete"
		default:
			return "", nil, fmt.Errorf("the distribution format has no %s events", e.Kind())
		}
		env.Events = append(env.Events, de)
	}
	b, err := json.Marshal(env)
	if err != nil {
		return "", nil, fmt.Errorf("render %s event as a distribution notification: %w", e.Kind(), err)
	}
	return DistributionContentType, b, nil
}
