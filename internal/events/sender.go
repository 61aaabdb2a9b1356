package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wharf-dev/wharf/internal/meta"
)

// responseExcerpt bounds what the delivery log keeps of a receiver's
// answer.
const responseExcerpt = 1024

// Sender posts events to webhooks.
type Sender struct {
	Renderer *Renderer
	// Client makes the requests; Guard.Client builds the one to use.
	Client *http.Client
	// UserAgent is sent with every delivery.
	UserAgent string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Outcome is how one attempt went.
type Outcome struct {
	Status   int // 0 when no answer came
	Latency  time.Duration
	Err      string // why it failed; "" for a delivery the receiver accepted (2xx)
	Response string // the start of the answer's body
}

// OK reports whether the receiver accepted the delivery.
func (o Outcome) OK() bool { return o.Err == "" }

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Send posts e to w as attempt attempt of delivery delivery. Only a 2xx
// answer counts as delivered; redirects are not followed.
func (s *Sender) Send(ctx context.Context, w *meta.Webhook, e *Event, delivery int64, attempt int) Outcome {
	contentType, body, err := s.Renderer.Render(Format(w.Format), e)
	if err != nil {
		return Outcome{Err: err.Error()}
	}
	start := s.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return Outcome{Err: fmt.Sprintf("request: %v", err)}
	}
	ts := start.Unix()
	h := req.Header
	h.Set("Content-Type", contentType)
	h.Set("User-Agent", s.UserAgent)
	h.Set(HeaderEventID, e.ID)
	h.Set(HeaderIdempotencyKey, e.ID)
	h.Set(HeaderEventKind, string(e.Kind()))
	h.Set(HeaderDelivery, strconv.FormatInt(delivery, 10))
	h.Set(HeaderAttempt, strconv.Itoa(attempt))
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(w.Secret, ts, body))
	resp, err := s.Client.Do(req)
	if err != nil {
		return Outcome{Latency: s.now().Sub(start), Err: sendError(err)}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, responseExcerpt))
	// Drain a little more so the connection can be reused, but never wait
	// long for a receiver that keeps talking.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	o := Outcome{Status: resp.StatusCode, Latency: s.now().Sub(start), Response: text(excerpt)}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		o.Err = fmt.Sprintf("answered %s; redirects are not followed (Location: %.200s)", resp.Status, resp.Header.Get("Location"))
	default:
		o.Err = "answered " + resp.Status
	}
	return o
}

// sendError says why a request got no answer, without the URL the client
// repeats in every error (the delivery log shows the webhook's URL).
func sendError(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && strings.HasPrefix(err.Error(), "Post ") {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within the timeout: " + err.Error()
	}
	return err.Error()
}

// text is b as valid UTF-8, for the delivery log.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
