package events

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
)

var update = flag.Bool("update", false, "rewrite the golden files of the payload formats")

// TestFormatsGolden renders a sample of every kind in every format that has
// it and compares the body, indented, with testdata/FORMAT/KIND.json;
// go test -run TestFormatsGolden -update rewrites them. docs/events.md
// quotes them.
func TestFormatsGolden(t *testing.T) {
	for _, f := range Formats {
		for k := range catalog {
			if k != KindPing && !f.Supports(k) {
				continue
			}
			e := sample(k)
			ct, body, err := sampleRenderer.Render(f, &e)
			if err != nil {
				t.Fatalf("%s %s: %v", f, k, err)
			}
			wantCT := map[Format]string{FormatCloudEvents: CloudEventsContentType, FormatDistribution: DistributionContentType, FormatHarbor: HarborContentType}[f]
			if ct != wantCT {
				t.Errorf("%s %s: content type %q", f, k, ct)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatalf("%s %s: not JSON: %v\n%s", f, k, err, body)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", string(f), string(k)+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%s %s: %v (run with -update to write it)", f, k, err)
			}
			if !bytes.Equal(want, pretty.Bytes()) {
				t.Errorf("%s %s: body differs from %s:\n%s", f, k, path, pretty.Bytes())
			}
		}
	}
}

// TestFormatKinds: the formats that render some kinds refuse the others,
// and render the ones they claim.
func TestFormatKinds(t *testing.T) {
	for _, f := range []Format{FormatDistribution, FormatHarbor} {
		for k := range catalog {
			e := sample(k)
			_, _, err := sampleRenderer.Render(f, &e)
			if want := k == KindPing || slices.Contains(f.SupportedKinds(), k); (err == nil) != want {
				t.Errorf("%s %s: err %v", f, k, err)
			}
		}
	}
}

// TestCloudEventsSpec reads every rendered CloudEvent back with the
// CloudEvents SDK, which checks the attributes against the specification.
func TestCloudEventsSpec(t *testing.T) {
	for k := range catalog {
		e := sample(k)
		_, body, err := sampleRenderer.Render(FormatCloudEvents, &e)
		if err != nil {
			t.Fatal(err)
		}
		var ce cloudevents.Event
		if err := json.Unmarshal(body, &ce); err != nil {
			t.Fatalf("%s: %v\n%s", k, err, body)
		}
		if err := ce.Validate(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		if ce.ID() != e.ID || ce.Type() != CloudEventsTypePrefix+string(k) || !ce.Time().Equal(e.At) || ce.DataContentType() != "application/json" {
			t.Errorf("%s: attributes %v", k, ce)
		}
		var data map[string]any
		if err := ce.DataAs(&data); err != nil || data["actor"] == nil {
			t.Errorf("%s: data %v, %v", k, data, err)
		}
	}
	// Without an external URL the source is still a URI-reference.
	e := sample(KindArtifactPushed)
	_, body, _ := (&Renderer{}).Render(FormatCloudEvents, &e)
	var ce cloudevents.Event
	if err := json.Unmarshal(body, &ce); err != nil || ce.Validate() != nil || ce.Source() != "wharf" {
		t.Errorf("no external URL: %v %v", ce, err)
	}
}

// TestDistributionEnvelope decodes the envelope as distribution's
// receivers do (the field names of notifications.Event) and checks what
// a receiver acts on.
func TestDistributionEnvelope(t *testing.T) {
	e := sample(KindArtifactPushed)
	ct, body, err := sampleRenderer.Render(FormatDistribution, &e)
	if err != nil || ct != "application/vnd.docker.distribution.events.v2+json" {
		t.Fatal(ct, err)
	}
	var env struct {
		Events []struct {
			ID, Action string
			Target     struct {
				MediaType, Digest, Repository, URL, Tag string
				Size, Length                            int64
			}
			Request struct{ ID, Addr, Host, Method, UserAgent string }
			Actor   struct{ Name string }
			Source  struct{ Addr, InstanceID string }
		}
	}
	if err := json.Unmarshal(body, &env); err != nil || len(env.Events) != 1 {
		t.Fatalf("%v: %s", err, body)
	}
	ev := env.Events[0]
	if ev.Action != "push" || ev.Target.Repository != "team/app" || ev.Target.Tag != "v1" || ev.Target.Digest != sampleDigest.String() ||
		ev.Target.Size != 1234 || ev.Target.Length != 1234 || ev.Actor.Name != "alice" || ev.Request.Method != "PUT" ||
		ev.Target.URL != "https://registry.example.com/v2/team/app/manifests/"+sampleDigest.String() || ev.Source.InstanceID == "" {
		t.Errorf("envelope %+v", ev)
	}
	if !strings.Contains(string(body), `"useragent":"crane/0.20"`) || !strings.Contains(string(body), `"instanceID"`) {
		t.Errorf("field names: %s", body)
	}
	p := sample(KindPing)
	if _, body, _ := sampleRenderer.Render(FormatDistribution, &p); string(body) != `{"events":[]}` {
		t.Errorf("ping: %s", body)
	}
}
