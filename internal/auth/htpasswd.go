package auth

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// ErrHtpasswdInvalid is returned for an htpasswd line wharf cannot import.
var ErrHtpasswdInvalid = errors.New("invalid htpasswd entry")

// HtpasswdEntry is one user of an htpasswd file.
type HtpasswdEntry struct {
	User string
	Hash string // a bcrypt hash, usable with VerifyPassword
}

// maxHtpasswdLine bounds one line; a bcrypt entry is the user name and 60
// bytes.
const maxHtpasswdLine = 4096

// ParseHtpasswdLine parses one "user:hash" line of an htpasswd file. Only
// bcrypt hashes ($2y$, as htpasswd -B writes them, and their $2a$/$2b$
// siblings) are accepted: the other schemes htpasswd knows (MD5 $apr1$,
// {SHA}, crypt, plain text) are too weak to carry over, and the error says
// which one the line used. Blank lines and # comments return ok false.
func ParseHtpasswdLine(line string) (e HtpasswdEntry, ok bool, err error) {
	line = strings.TrimRight(line, "\r\n")
	if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
		return HtpasswdEntry{}, false, nil
	}
	if len(line) > maxHtpasswdLine {
		return HtpasswdEntry{}, false, fmt.Errorf("%w: line longer than %d bytes", ErrHtpasswdInvalid, maxHtpasswdLine)
	}
	user, hash, found := strings.Cut(line, ":")
	if !found {
		return HtpasswdEntry{}, false, fmt.Errorf("%w: want user:hash", ErrHtpasswdInvalid)
	}
	if user == "" || !utf8.ValidString(user) || strings.ContainsFunc(user, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		return HtpasswdEntry{}, false, fmt.Errorf("%w: user name %q is empty or has spaces or control characters", ErrHtpasswdInvalid, truncate(user))
	}
	hash = strings.TrimSpace(hash)
	if scheme := htpasswdScheme(hash); scheme != "bcrypt" {
		return HtpasswdEntry{}, false, fmt.Errorf("%w: user %q: %s hashes are not supported, only bcrypt; set a new password or re-create the entry with htpasswd -B", ErrHtpasswdInvalid, user, scheme)
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return HtpasswdEntry{}, false, fmt.Errorf("%w: user %q: malformed bcrypt hash: %w", ErrHtpasswdInvalid, user, err)
	}
	return HtpasswdEntry{User: user, Hash: hash}, true, nil
}

// htpasswdScheme names the scheme of an htpasswd hash, for error messages.
func htpasswdScheme(h string) string {
	switch {
	case strings.HasPrefix(h, "$2y$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2a$"):
		return "bcrypt"
	case strings.HasPrefix(h, "$apr1$"):
		return "Apache MD5 ($apr1$)"
	case strings.HasPrefix(h, "{SHA}"):
		return "SHA-1 ({SHA})"
	case strings.HasPrefix(h, "$1$"):
		return "MD5-crypt ($1$)"
	case strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"):
		return "SHA-crypt ($5$/$6$)"
	case strings.HasPrefix(h, "$"):
		return "unknown ($...$)"
	case h == "":
		return "empty"
	}
	return "crypt or plain-text"
}

// ParseHtpasswd reads an htpasswd file. It returns every entry it could
// import and, joined, an error for each line it could not, naming the line,
// so an import can report every problem at once. A user listed twice is an
// error on the second line.
func ParseHtpasswd(r io.Reader) ([]HtpasswdEntry, error) {
	var (
		out  []HtpasswdEntry
		errs []error
		seen = map[string]int{}
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxHtpasswdLine+2)
	for n := 1; sc.Scan(); n++ {
		e, ok, err := ParseHtpasswdLine(sc.Text())
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("htpasswd line %d: %w", n, err))
		case !ok:
		case seen[e.User] != 0:
			errs = append(errs, fmt.Errorf("htpasswd line %d: %w: user %q already on line %d", n, ErrHtpasswdInvalid, e.User, seen[e.User]))
		default:
			seen[e.User] = n
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("read htpasswd: %w", err))
	}
	return out, errors.Join(errs...)
}
