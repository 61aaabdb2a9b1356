package events

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

var (
	sampleDigest   = digest.Digest("sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b")
	sampleDigest2  = digest.Digest("sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7")
	sampleTime     = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)
	sampleActor    = Actor{Name: "user:alice", Client: "203.0.113.7", Request: &Request{ID: "req-1", Method: "PUT", Host: "registry.example.com", UserAgent: "crane/0.20"}}
	sampleRenderer = &Renderer{ExternalURL: "https://registry.example.com", Addr: "wharf-0:5000", InstanceID: "4b0f2f3c-1d2e-4f6a-9b8c-7d6e5f4a3b2c",
		Public: func(ns string) bool { return ns == "base" }}
)

// samples holds data of every kind, for round trips and golden files.
var samples = map[Kind]Data{
	KindArtifactPushed: &ArtifactPushed{Digest: sampleDigest, MediaType: "application/vnd.oci.image.index.v1+json", Size: 1234, Tags: []string{"v1"},
		Platforms: []Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	KindArtifactPulled: &ArtifactPulled{Digest: sampleDigest, MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 527, Tag: "v1", Count: 42,
		First: sampleTime.Add(-9 * time.Second), Last: sampleTime, Clients: []string{"203.0.113.7", "203.0.113.8"}},
	KindArtifactDeleted:   &ArtifactDeleted{Digest: sampleDigest, MediaType: "application/vnd.oci.image.manifest.v1+json", Tags: []string{"v1", "latest"}},
	KindTagMoved:          &TagMoved{Tag: "latest", Digest: sampleDigest, Previous: sampleDigest2},
	KindTagDeleted:        &TagDeleted{Tag: "v1", Digest: sampleDigest},
	KindBlobDeleted:       &BlobDeleted{Digest: sampleDigest2},
	KindRepositoryCreated: &RepositoryCreated{},
	KindRepositoryDeleted: &RepositoryDeleted{},
	KindQuotaExceeded:     &QuotaExceeded{Operation: "upload", Digest: sampleDigest2, LimitBytes: 1 << 30, UsedBytes: 1<<30 - 100, AddingBytes: 4096},
	KindQuotaWarning:      &QuotaWarning{Percent: 80, LimitBytes: 1 << 30, UsedBytes: 900 << 20, Digest: sampleDigest, Tag: "v1"},
	KindPolicyChanged:     &PolicyChanged{Policy: PolicyImmutability, Change: ChangeCreated, ID: 7, Scope: "team", Rule: "v*"},
	KindRetentionRun:      &RetentionRun{Repositories: 12, TagsDeleted: 30, ManifestsDeleted: 28, Kept: 100},
	KindGCRun:             &GCRun{Reviewed: 50, BlobsDeleted: 40, ManifestsDeleted: 3, BytesFreed: 123456789, Duration: 1500 * time.Millisecond},

	KindNamespaceCreated: &NamespaceCreated{Public: false, Admin: "alice"},
	KindNamespaceUpdated: &NamespaceUpdated{Public: true},
	KindNamespaceDeleted: &NamespaceDeleted{},
	KindMemberSet:        &MemberSet{User: "bob", Role: "developer", Previous: "readonly"},
	KindMemberRemoved:    &MemberRemoved{User: "bob", Role: "developer"},
	KindUserCreated:      &UserCreated{User: "bob"},
	KindUserUpdated:      &UserUpdated{User: "bob", Changes: []string{"password"}},
	KindUserDeleted:      &UserDeleted{User: "bob"},
	KindUsersImported:    &UsersImported{Created: 3, Updated: 1, Skipped: 2, Refused: 1},
	KindTokenCreated:     &TokenCreated{ID: "tok_1", Name: "laptop", Owner: "alice", Scopes: []string{"*:*"}, ExpiresAt: sampleTime.Add(90 * 24 * time.Hour)},
	KindTokenRevoked:     &TokenRevoked{ID: "tok_1", Name: "laptop", Owner: "alice"},
	KindRobotCreated:     &RobotCreated{ID: "rob_1", Name: "team+ci", Scopes: []string{"team/*:push"}},
	KindRobotRevoked:     &RobotRevoked{ID: "rob_1", Name: "team+ci"},
	KindLoginSucceeded:   &LoginSucceeded{Method: "password", Source: "local"},
	KindLoginFailed:      &LoginFailed{User: "alice", Source: "local", Reason: "wrong password"},
	KindSessionStarted:   &SessionStarted{ID: "ws_1", User: "alice", Source: "oidc"},
	KindSessionEnded:     &SessionEnded{ID: "ws_1", User: "alice"},
	KindAccessDenied:     &AccessDenied{Action: "push", Target: "team/app:v1", Reason: "push to team/app needs the developer role in team; user:alice is readonly"},
	KindRequestFailed:    &RequestFailed{Action: "member.put", Target: "team:carol", Code: "NOT_FOUND", Reason: "user carol not found"},
	KindKeyRotated:       &KeyRotated{ID: "k2"},
	KindKeyRetired:       &KeyRetired{ID: "k1"},
	KindWebhookChanged: &WebhookChanged{Change: ChangeCreated, ID: 3, Name: "ci", URL: "https://hooks.example.com/wharf", Format: "cloudevents",
		Kinds: []string{"artifact.pushed"}, Repositories: []string{"team/**"}, Enabled: true},
	KindPing: &Ping{Webhook: 3, Name: "ci"},

	KindScanRequested: &ScanRequested{Reference: "v1"},
	KindScanCompleted: &ScanCompleted{Digest: sampleDigest, Tag: "v1", Scanner: "wharf", Status: "scanned",
		Vulnerabilities: map[string]int{"critical": 1, "high": 4, "medium": 9}, Duration: 2500 * time.Millisecond},
	KindSignatureVerified: &SignatureVerified{Digest: sampleDigest, Tag: "v1", Format: "cosign", Verified: true, Signer: "release-key", Policy: "team/*"},
	KindArtifactPromoted: &ArtifactPromoted{Digest: sampleDigest, MediaType: "application/vnd.oci.image.manifest.v1+json", From: "team/app-staging",
		FromTag: "rc1", Tags: []string{"v1"}, Policy: "scanned-and-signed"},
	KindPromotionRequested:     &PromotionRequested{Request: 9, Digest: sampleDigest, From: "team/app-staging", Tag: "v1"},
	KindPromotionApproved:      &PromotionApproved{Request: 9, Digest: sampleDigest, Tag: "v1", Comment: "release 1"},
	KindReplicationRuleChanged: &ReplicationRuleChanged{Change: ChangeCreated, ID: 4, Name: "to-dr", Direction: "push", Remote: "https://dr.example.com"},
	KindReplicationRun: &ReplicationRun{Rule: 4, Name: "to-dr", Run: 17, Trigger: "event", State: "succeeded", Copied: 3, Skipped: 1,
		Bytes: 48 << 20, Duration: 12 * time.Second},
}

// sample is an event of kind k about team/app (or, for kinds about no
// repository, namespace team or nothing).
func sample(k Kind) Event {
	repo := "team/app"
	switch k {
	case KindNamespaceCreated, KindNamespaceUpdated, KindNamespaceDeleted, KindMemberSet, KindMemberRemoved, KindRobotCreated, KindRobotRevoked, KindWebhookChanged, KindPing:
		repo = ""
	case KindUserCreated, KindUserUpdated, KindUserDeleted, KindUsersImported, KindTokenCreated, KindTokenRevoked, KindLoginSucceeded, KindLoginFailed,
		KindSessionStarted, KindSessionEnded,
		KindKeyRotated, KindKeyRetired, KindRetentionRun, KindGCRun, KindAccessDenied, KindRequestFailed,
		KindReplicationRuleChanged, KindReplicationRun:
		repo = ""
	}
	e := New(WithActor(context.Background(), sampleActor), repo, samples[k])
	e.ID, e.At = "0b6e1f8a-5c2d-4e7f-8a9b-1c2d3e4f5a6b", sampleTime
	switch k {
	case KindNamespaceCreated, KindNamespaceUpdated, KindNamespaceDeleted, KindMemberSet, KindMemberRemoved, KindRobotCreated, KindRobotRevoked, KindWebhookChanged, KindPing:
		e = e.InNamespace("team")
	}
	return e
}

// TestCatalogComplete: every kind has a sample, so every kind is round
// tripped and rendered below.
func TestCatalogComplete(t *testing.T) {
	for k, info := range catalog {
		d, ok := samples[k]
		if !ok {
			t.Errorf("kind %s has no sample", k)
			continue
		}
		if d.Kind() != k || info.new().Kind() != k {
			t.Errorf("kind %s: data says %s, constructor %s", k, d.Kind(), info.new().Kind())
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for k := range catalog {
		e := sample(k)
		r, err := e.Record()
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if r.Kind != string(k) || r.Actor != "user:alice" || r.Client != "203.0.113.7" || r.Action == "" || r.Result == "" {
			t.Errorf("%s: record %+v", k, r)
		}
		back, err := Decode(r)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if diff := cmp.Diff(e, back); diff != "" {
			t.Errorf("%s: round trip (-want +got):\n%s", k, diff)
		}
	}
}

func TestDecodeUnknownKind(t *testing.T) {
	e := sample(KindTagDeleted)
	r, _ := e.Record()
	r.Kind, r.Data = "quarantine.released", []byte(`{"data":{"critical":3}}`)
	back, err := Decode(r)
	if err != nil {
		t.Fatal(err)
	}
	if back.Kind() != "quarantine.released" || back.Data.Audit(&back).Action != "tag.delete" {
		t.Errorf("unknown kind decoded as %+v", back)
	}
	if b, _ := flatData(&back); string(b) == "" {
		t.Error("unknown kind renders nothing")
	}
}

func TestActorFrom(t *testing.T) {
	if a := ActorFrom(context.Background()); a.Name != Anonymous {
		t.Errorf("no actor: %+v", a)
	}
	if a := ActorFrom(WithActor(context.Background(), System("gc"))); a.Name != "system:gc" {
		t.Errorf("system actor: %+v", a)
	}
}
