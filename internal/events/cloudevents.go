package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// CloudEventsContentType is the media type of a CloudEvent in the
// structured JSON format.
const CloudEventsContentType = "application/cloudevents+json"

// CloudEventsTypePrefix prefixes the kind in a CloudEvent's type:
// "dev.wharf.artifact.pushed".
const CloudEventsTypePrefix = "dev.wharf."

// cloudEvent is a CloudEvents 1.0 event in the structured JSON format
// (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md),
// written out rather than built with the SDK: these eight attributes are
// all wharf sends, and the SDK's event package adds json-iterator and
// reflect2 (1.9 MB of binary) to marshal them.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// cloudEvent renders e as a CloudEvent. Its data is the event's data with
// the actor, namespace and repository beside it:
//
//	{"actor": {...}, "namespace": "team", "repository": "team/app", "digest": ..., ...}
//
// The subject is the repository, or the namespace for events about a
// namespace.
func (r *Renderer) cloudEvent(e *Event) (string, []byte, error) {
	data, err := flatData(e)
	if err != nil {
		return "", nil, err
	}
	source := r.ExternalURL
	if source == "" {
		source = "wharf"
	}
	subject := e.Repository
	if subject == "" {
		subject = e.Namespace
	}
	b, err := json.Marshal(cloudEvent{
		SpecVersion:     "1.0",
		ID:              e.ID,
		Source:          source,
		Type:            CloudEventsTypePrefix + string(e.Kind()),
		Subject:         subject,
		Time:            e.At.UTC().Format(time.RFC3339Nano),
		DataContentType: "application/json",
		Data:            data,
	})
	if err != nil {
		return "", nil, fmt.Errorf("render %s event as a CloudEvent: %w", e.Kind(), err)
	}
	return CloudEventsContentType, b, nil
}

// flatData is the event's data as a JSON object with "actor", "namespace"
// and "repository" members added: the data member of a CloudEvent, and
// what the events API shows.
func flatData(e *Event) (json.RawMessage, error) {
	raw, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.Kind(), err)
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("encode %s event: its data is not an object: %w", e.Kind(), err)
	}
	add := func(name string, v any) {
		if b, err := json.Marshal(v); err == nil {
			fields[name] = b
		}
	}
	add("actor", e.Actor)
	if e.Namespace != "" {
		add("namespace", e.Namespace)
	}
	if e.Repository != "" {
		add("repository", e.Repository)
	}
	return json.Marshal(fields) // map keys are sorted: a stable body
}
