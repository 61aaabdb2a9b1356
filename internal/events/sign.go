package events

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of a webhook delivery (docs/events.md, "Signing").
const (
	// HeaderEventID and HeaderIdempotencyKey carry the event's ID, the
	// same in every attempt and redelivery of the event, to every
	// webhook: a receiver that has seen it may drop the delivery.
	HeaderEventID        = "Wharf-Event-Id"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderEventKind      = "Wharf-Event-Kind"
	HeaderDelivery       = "Wharf-Delivery"         // the delivery's ID, as the delivery log shows it
	HeaderAttempt        = "Wharf-Delivery-Attempt" // 1 for the first attempt
	// HeaderTimestamp is the time of sending in unix seconds, and
	// HeaderSignature "v1=" and the hex HMAC-SHA256, keyed with the
	// webhook's secret, of the timestamp, ".", and the body.
	HeaderTimestamp = "Wharf-Timestamp"
	HeaderSignature = "Wharf-Signature"
)

// SignatureTolerance is how far from now a receiver should accept a
// delivery's timestamp, against replays.
const SignatureTolerance = 5 * time.Minute

// Sign returns the HeaderSignature value of body sent at unix time ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of [Verify].
var (
	ErrSignature = errors.New("signature does not match")
	ErrTimestamp = errors.New("timestamp too far from now")
)

// Verify checks a delivery as a receiver would: the timestamp header is
// within SignatureTolerance of now, and one of the signatures in the
// signature header (several may be sent, comma-separated) matches. It is
// what docs/events.md tells receivers to do.
func Verify(secret, timestamp, signature string, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not unix seconds", ErrTimestamp, timestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return fmt.Errorf("%w: %s", ErrTimestamp, d)
	}
	want := Sign(secret, ts, body)
	for _, s := range strings.Split(signature, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(s)), []byte(want)) {
			return nil
		}
	}
	return ErrSignature
}

// SecretPrefix starts every secret wharf generates, so that one found in
// a log or a repository is recognised.
const SecretPrefix = "whsec_"

// NewSecret returns a new random webhook secret: 256 bits.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}
