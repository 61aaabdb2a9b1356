package events

import (
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

func TestMatchRepository(t *testing.T) {
	for _, tc := range []struct {
		pattern, repo string
		want          bool
	}{
		{"team/app", "team/app", true},
		{"team/app", "team/app2", false},
		{"team/*", "team/app", true},
		{"team/*", "team/tools/app", false},
		{"team/**", "team/tools/app", true},
		{"team/**", "team", true},
		{"team/**", "teams/app", false},
		{"**/app", "a/b/app", true},
		{"**", "anything/at/all", true},
		{"team/**/cli", "team/x/y/cli", true},
		{"team/**/cli", "team/cli", true},
		{"team/app-?", "team/app-1", true},
		{"team/[ab]*", "team/cd", false},
	} {
		if got := MatchRepository(tc.pattern, tc.repo); got != tc.want {
			t.Errorf("MatchRepository(%q, %q) = %v", tc.pattern, tc.repo, got)
		}
	}
	for _, bad := range []string{"", "team//app", "team/a**", "team/[", strings.Repeat("a", 256)} {
		if ValidateRepositoryPattern(bad) == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

func TestMatches(t *testing.T) {
	ev := func(kind, ns, repo string) *meta.Event {
		return &meta.Event{Kind: kind, Namespace: ns, Repository: repo}
	}
	push := ev("artifact.pushed", "team", "team/app")
	login := ev("login.failed", "", "")
	member := ev("member.set", "team", "")
	for _, tc := range []struct {
		name string
		w    meta.Webhook
		e    *meta.Event
		want bool
	}{
		{"everything", meta.Webhook{Enabled: true, Format: "cloudevents"}, login, true},
		{"disabled", meta.Webhook{Enabled: false, Format: "cloudevents"}, push, false},
		{"kind", meta.Webhook{Enabled: true, Format: "cloudevents", Kinds: []string{"artifact.pushed"}}, push, true},
		{"other kind", meta.Webhook{Enabled: true, Format: "cloudevents", Kinds: []string{"tag.deleted"}}, push, false},
		{"repository", meta.Webhook{Enabled: true, Format: "cloudevents", Repositories: []string{"team/*"}}, push, true},
		{"repository, event about none", meta.Webhook{Enabled: true, Format: "cloudevents", Repositories: []string{"**"}}, member, false},
		{"namespace", meta.Webhook{Enabled: true, Format: "cloudevents", Namespace: "team"}, member, true},
		{"other namespace", meta.Webhook{Enabled: true, Format: "cloudevents", Namespace: "ops"}, push, false},
		{"namespace, system event", meta.Webhook{Enabled: true, Format: "cloudevents", Namespace: "team"}, login, false},
		{"format without the kind", meta.Webhook{Enabled: true, Format: "distribution"}, login, false},
		{"format with the kind", meta.Webhook{Enabled: true, Format: "harbor"}, push, true},
		{"ping", meta.Webhook{Enabled: true, Format: "cloudevents"}, ev("webhook.ping", "", ""), false},
	} {
		if got := Matches(&tc.w, tc.e); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

func TestCheckFilter(t *testing.T) {
	for _, tc := range []struct {
		w       meta.Webhook
		wantErr string
	}{
		{meta.Webhook{Format: "cloudevents", Kinds: []string{"artifact.pushed", "login.failed"}}, ""},
		{meta.Webhook{Format: "cloudevents", Kinds: []string{"artifact.pushd"}}, "not an event kind"},
		{meta.Webhook{Format: "distribution", Kinds: []string{"login.failed"}}, "has no login.failed events"},
		{meta.Webhook{Format: "cloudevents", Kinds: []string{"webhook.ping"}}, "not an event kind"},
		{meta.Webhook{Format: "cloudevents", Namespace: "team", Repositories: []string{"team/**"}}, ""},
		{meta.Webhook{Format: "cloudevents", Namespace: "team", Repositories: []string{"**"}}, "outside namespace team"},
		{meta.Webhook{Format: "cloudevents", Namespace: "team", Repositories: []string{"ops/app"}}, "outside namespace team"},
	} {
		err := checkFilter(&tc.w)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%+v: %v, want %q", tc.w, err, tc.wantErr)
		}
	}
}

func TestSign(t *testing.T) {
	body := []byte(`{"hello":"world"}`)
	now := time.Unix(1772368245, 0)
	sig := Sign("whsec_test", now.Unix(), body)
	// Computed independently: printf '1772368245.{"hello":"world"}' | openssl dgst -sha256 -hmac whsec_test
	if want := "v1=85565481425154e580a6e75e502a6651fc8f67abd60fb6cad063e1b42d6f225c"; sig != want {
		t.Fatalf("signature %s, want %s", sig, want)
	}
	if err := Verify("whsec_test", "1772368245", sig, body, now); err != nil {
		t.Fatal(err)
	}
	if err := Verify("whsec_test", "1772368245", "v1=00,"+sig, body, now); err != nil {
		t.Errorf("second of two signatures: %v", err)
	}
	if err := Verify("whsec_other", "1772368245", sig, body, now); err != ErrSignature {
		t.Errorf("other secret: %v", err)
	}
	if err := Verify("whsec_test", "1772368245", sig, []byte(`{"hello":"World"}`), now); err != ErrSignature {
		t.Errorf("altered body: %v", err)
	}
	if err := Verify("whsec_test", "1772368245", sig, body, now.Add(6*time.Minute)); err == nil {
		t.Error("replayed after 6 minutes")
	}
	s1, _ := NewSecret()
	s2, _ := NewSecret()
	if s1 == s2 || !strings.HasPrefix(s1, SecretPrefix) || len(s1) < 40 {
		t.Errorf("secrets %q %q", s1, s2)
	}
}
