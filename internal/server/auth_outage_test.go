package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
)

// TestAccessStoreOutage: while the metadata store is down, logins are 503
// UNAVAILABLE with Retry-After (not 401, which would send people to reset
// passwords, and not 500), at /v2 and at both forms of /token; a bearer
// token already issued still verifies; and all is well once it is back.
func TestAccessStoreOutage(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database.Driver = "postgres"
	cfg.Database.Postgres.URL = pg.vars["WHARF_TEST_POSTGRES_URL"]
	cfg.Auth.Enabled = true
	cfg.Auth.BcryptCost = 4
	cfg.AdminPassword = adminPassword
	tr := openTestRegistry(t, cfg)
	basic := auth.BasicAuthorization("admin", adminPassword)
	r := tr.do("GET", "/token?scope=repository:team/app:pull", nil, "Authorization", basic)
	want(t, "token before the outage", r, http.StatusOK, "")
	var body struct{ Token string }
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}

	pg.stop()
	wantUnavailable(t, "ping with Basic", tr.do("GET", "/v2/", nil, "Authorization", basic), "metadata store unavailable")
	wantUnavailable(t, "GET /token", tr.do("GET", "/token", nil, "Authorization", basic), "metadata store unavailable")
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}}
	wantUnavailable(t, "POST /token", tr.do("POST", "/token", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded"), "metadata store unavailable")

	want(t, "ping with a token issued before", tr.do("GET", "/v2/", nil, "Authorization", "Bearer "+body.Token), http.StatusOK, "")

	pg.start()
	want(t, "ping with Basic after restart", tr.do("GET", "/v2/", nil, "Authorization", basic), http.StatusOK, "")
}
