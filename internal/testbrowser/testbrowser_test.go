package testbrowser_test

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wharf-dev/wharf/internal/testbrowser"
)

// A form filled in and submitted in the browser reaches the server, and
// the page it answers with is what the helpers read; the browser keeps the
// cookie the server set, and resolves no host but localhost.
func TestFormRoundTrip(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: "yes", Path: "/"})
		fmt.Fprint(w, `<!doctype html><form method="post" action="/hello"><input name="who"><button type="submit">Go</button></form>`)
	})
	mux.HandleFunc("POST /hello", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("seen")
		if err != nil {
			http.Error(w, "no cookie", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `<!doctype html><h1 id="greeting">hello, %s (cookie %s)</h1>`, html.EscapeString(r.FormValue("who")), html.EscapeString(c.Value))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b := testbrowser.Start(t)
	b.Do(
		chromedp.Navigate(srv.URL+"/form"),
		chromedp.SetValue(chromedp.CSS(`input[name="who"]`), "ada"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	if got, want := b.Text("#greeting"), "hello, ada (cookie yes)"; got != want {
		t.Errorf("greeting = %q, want %q", got, want)
	}
	if got := b.Location(); got != srv.URL+"/hello" {
		t.Errorf("location = %q, want %q", got, srv.URL+"/hello")
	}
	if got := testbrowser.Eval[string](b, "document.title || location.pathname"); got != "/hello" {
		t.Errorf("eval = %q, want /hello", got)
	}
	// Any address but localhost, 127.0.0.1 and ::1 is unreachable, even
	// one that serves: the browser reaches nothing the test did not mean.
	other, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	elsewhere := &httptest.Server{Listener: other, Config: &http.Server{Handler: mux}}
	elsewhere.Start()
	defer elsewhere.Close()
	got := testbrowser.Eval[string](b, `fetch("`+elsewhere.URL+`/form", {mode: "no-cors"}).then(() => "reached", e => "refused: " + e.message)`)
	if !strings.HasPrefix(got, "refused") {
		t.Errorf("fetch of %s = %q, want refused", elsewhere.URL, got)
	}
}

// Two browsers share nothing: a cookie set in one is not sent by the other.
func TestFreshProfile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("seen"); err == nil {
			fmt.Fprint(w, `<p id="state">returning</p>`)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: "yes", Path: "/"})
		fmt.Fprint(w, `<p id="state">new</p>`)
	}))
	defer srv.Close()

	first := testbrowser.Start(t)
	first.Do(chromedp.Navigate(srv.URL))
	first.Do(chromedp.Reload())
	if got := first.Text("#state"); got != "returning" {
		t.Fatalf("first browser after reload = %q, want returning", got)
	}
	second := testbrowser.Start(t)
	second.Do(chromedp.Navigate(srv.URL))
	if got := second.Text("#state"); got != "new" {
		t.Errorf("second browser = %q, want new (a fresh profile)", got)
	}
}
