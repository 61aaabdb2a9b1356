package replication

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
)

// Directions a rule copies in.
const (
	Push = "push" // from this registry to the remote one
	Pull = "pull" // from the remote registry into this one
)

// ErrInvalid is wrapped by every error about a rule that cannot be stored
// as written.
var ErrInvalid = errors.New("invalid replication rule")

// Rule is a replication rule: what to copy, between this registry and
// which other, and when.
type Rule struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	// Direction is Push (local to remote) or Pull (remote to local).
	Direction string `json:"direction"`
	Remote    Remote `json:"remote"`
	// Repositories selects the source repositories by glob (see
	// [MatchRepository]); at least one. ExcludeRepositories removes some
	// of them again.
	Repositories        []string `json:"repositories"`
	ExcludeRepositories []string `json:"excludeRepositories,omitempty"`
	// Tags selects tags by policy pattern (a glob, "semver",
	// "semver:RANGE" or "re:EXPR"); empty selects every tag. ExcludeTags
	// removes some of them again.
	Tags        []string `json:"tags,omitempty"`
	ExcludeTags []string `json:"excludeTags,omitempty"`
	// Mappings rename repositories on the way: the longest From that is
	// the repository's name or a leading part of it (whole path
	// components; "" matches every name) is replaced by its To. A
	// repository no mapping matches keeps its name.
	Mappings []Mapping `json:"mappings,omitempty"`
	// Trigger says when the rule runs besides "run now".
	Trigger Trigger `json:"trigger"`
	// Deletes propagates deletions: a tag or manifest deleted at the
	// source (or, in a full run, a selected tag the source no longer has)
	// is deleted at the destination.
	Deletes bool `json:"deletes"`
	// Concurrency is how many artifacts, and blobs, are copied at once; 0
	// means 4.
	Concurrency int `json:"concurrency,omitempty"`
	// BandwidthLimit caps the blob bytes a run sends per second; 0 means
	// no cap.
	BandwidthLimit int64 `json:"bandwidthLimit,omitempty"`
	// ChunkSize is the size of the chunks blobs larger than it are sent in
	// (each acknowledged before the next, so a failure resumes from the
	// last one); 0 means 64 MiB.
	ChunkSize int64 `json:"chunkSize,omitempty"`

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Remote is the other registry of a rule.
type Remote struct {
	// URL is its base URL, http:// or https://host[:port].
	URL      string `json:"url"`
	Username string `json:"username,omitempty"`
	// Password is the password or access token for Username. It is
	// stored sealed and never shown back: a rule read from the service
	// carries HasPassword instead.
	Password    string `json:"-"`
	HasPassword bool   `json:"hasPassword"`
	// CACert is a PEM certificate authority to trust for the registry's
	// TLS certificate, besides the system's.
	CACert string `json:"caCert,omitempty"`
}

// Mapping renames repositories: From (a leading part of the name, whole
// path components, or "") becomes To.
type Mapping struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Trigger says when a rule runs by itself.
type Trigger struct {
	// OnEvent queues a run for each change in the event stream to a
	// repository the rule selects (push rules only: the remote's changes
	// are not seen here); a periodic reconcile catches any missed.
	OnEvent bool `json:"onEvent,omitempty"`
	// Schedule runs the whole rule this often; 0 means never.
	Schedule policy.Duration `json:"schedule,omitempty"`
}

const (
	defaultConcurrency = 4
	maxConcurrency     = 64
	defaultChunkSize   = 64 << 20
	minChunkSize       = 1 << 20
	maxChunkSize       = 1 << 30
	minSchedule        = time.Minute
	maxRuleName        = 64
)

var ruleNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// compiled is a rule with its patterns compiled.
type compiled struct {
	Rule
	repos, notRepos []*regexp.Regexp
	tags, notTags   []policy.Pattern
}

// Validate checks r and fills in defaults; every error wraps [ErrInvalid]
// and names the field.
func (r *Rule) Validate() error {
	_, err := compile(r)
	return err
}

// compile validates r, fills in its defaults and compiles its patterns.
func compile(r *Rule) (*compiled, error) {
	bad := func(field, format string, args ...any) (*compiled, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	if len(r.Name) > maxRuleName || !ruleNameRE.MatchString(r.Name) {
		return bad("name", "%q is not lowercase letters and digits joined by '.', '_' or '-' (at most %d characters)", r.Name, maxRuleName)
	}
	if r.Direction != Push && r.Direction != Pull {
		return bad("direction", "%q is not %q or %q", r.Direction, Push, Pull)
	}
	u, err := url.Parse(r.Remote.URL)
	if err == nil && u.User != nil {
		// Said without the URL: it holds a password, and errors are echoed.
		return bad("remote.url", "%q holds credentials: give them as remote.username and remote.password, which are sealed and never shown", u.Redacted())
	}
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
		return bad("remote.url", "%q is not http:// or https://host[:port]", r.Remote.URL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("remote.url", "%q: port %s is not a port (1 to 65535)", r.Remote.URL, p)
		}
	}
	r.Remote.URL = u.Scheme + "://" + u.Host
	if r.Remote.Password != "" && r.Remote.Username == "" {
		return bad("remote.password", "a password needs a username")
	}
	if len(r.Repositories) == 0 {
		return bad("repositories", "name at least one repository glob (\"**\" selects every repository)")
	}
	c := &compiled{Rule: *r}
	for _, list := range []struct {
		field string
		globs []string
		out   *[]*regexp.Regexp
	}{{"repositories", r.Repositories, &c.repos}, {"excludeRepositories", r.ExcludeRepositories, &c.notRepos}} {
		for _, g := range list.globs {
			re, err := compileRepositoryGlob(g)
			if err != nil {
				return bad(list.field, "%v", err)
			}
			*list.out = append(*list.out, re)
		}
	}
	for _, list := range []struct {
		field    string
		patterns []string
		out      *[]policy.Pattern
	}{{"tags", r.Tags, &c.tags}, {"excludeTags", r.ExcludeTags, &c.notTags}} {
		for _, s := range list.patterns {
			p, err := policy.ParsePattern(s)
			if err != nil {
				return bad(list.field, "%v", err)
			}
			*list.out = append(*list.out, p)
		}
	}
	seen := map[string]bool{}
	for i, m := range r.Mappings {
		if m.From != "" {
			if err := oci.ValidateName(m.From); err != nil {
				return bad(fmt.Sprintf("mappings[%d].from", i), "%q is not a repository name or a leading part of one", m.From)
			}
		}
		if err := oci.ValidateName(m.To); err != nil {
			return bad(fmt.Sprintf("mappings[%d].to", i), "%q is not a repository name or a leading part of one", m.To)
		}
		if seen[m.From] {
			return bad(fmt.Sprintf("mappings[%d].from", i), "%q is mapped twice", m.From)
		}
		seen[m.From] = true
	}
	if r.Trigger.OnEvent && r.Direction == Pull {
		return bad("trigger.onEvent", "a pull rule cannot run on events: the remote registry's changes are not in this registry's event stream; give it a schedule")
	}
	if s := time.Duration(r.Trigger.Schedule); s != 0 && s < minSchedule {
		return bad("trigger.schedule", "%s is shorter than %s", s, minSchedule)
	}
	switch {
	case r.Concurrency == 0:
		c.Concurrency = defaultConcurrency
	case r.Concurrency < 1 || r.Concurrency > maxConcurrency:
		return bad("concurrency", "%d is not between 1 and %d", r.Concurrency, maxConcurrency)
	}
	if r.BandwidthLimit < 0 {
		return bad("bandwidthLimit", "must not be negative")
	}
	switch {
	case r.ChunkSize == 0:
		c.ChunkSize = defaultChunkSize
	case r.ChunkSize < minChunkSize || r.ChunkSize > maxChunkSize:
		return bad("chunkSize", "%d is not between %d and %d bytes", r.ChunkSize, minChunkSize, maxChunkSize)
	}
	return c, nil
}

// compileRepositoryGlob compiles a repository glob: "*" matches within one
// path component, "**" across components ("team/**" is every repository
// under team/, "**" every repository), "?" one character.
func compileRepositoryGlob(g string) (*regexp.Regexp, error) {
	if g == "" || len(g) > 256 {
		return nil, fmt.Errorf("glob %q: must have 1 to 256 characters", g)
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		switch ch := g[i]; {
		case ch == '*' && i+1 < len(g) && g[i+1] == '*':
			b.WriteString(".*")
			i++
		case ch == '*':
			b.WriteString("[^/]*")
		case ch == '?':
			b.WriteString("[^/]")
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '/', ch == '-', ch == '_', ch == '.':
			b.WriteString(regexp.QuoteMeta(string(ch)))
		default:
			return nil, fmt.Errorf("glob %q: %q cannot appear in a repository name or a glob", g, string(ch))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// literalPrefix is the part of glob g before its first wildcard, cut back
// to a whole path component: the prefix the source's catalog is listed
// under. A glob without wildcards is returned whole, with exact true.
func literalPrefix(g string) (prefix string, exact bool) {
	i := strings.IndexAny(g, "*?")
	if i < 0 {
		return g, true
	}
	j := strings.LastIndex(g[:i], "/")
	if j < 0 {
		return "", false
	}
	return g[:j], false
}

// selectsRepository reports whether the rule copies repository name.
func (c *compiled) selectsRepository(name string) bool {
	match := func(res []*regexp.Regexp) bool {
		return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(name) })
	}
	return match(c.repos) && !match(c.notRepos)
}

// selectsTag reports whether the rule copies tag.
func (c *compiled) selectsTag(tag string) bool {
	if isAttachmentTag(tag) {
		return false // copied with their subject
	}
	match := func(ps []policy.Pattern) bool {
		return slices.ContainsFunc(ps, func(p policy.Pattern) bool { return p.Match(tag) })
	}
	return (len(c.tags) == 0 || match(c.tags)) && !match(c.notTags)
}

// destination is the name repo gets at the destination.
func (c *compiled) destination(repo string) string {
	best := -1
	for i, m := range c.Mappings {
		if (m.From == "" || repo == m.From || strings.HasPrefix(repo, m.From+"/")) && (best < 0 || len(m.From) > len(c.Mappings[best].From)) {
			best = i
		}
	}
	if best < 0 {
		return repo
	}
	m := c.Mappings[best]
	rest := strings.TrimPrefix(repo, m.From)
	if m.From == "" {
		rest = "/" + repo
	}
	return m.To + rest
}

// source is the source repository whose destination is dst, if the
// mappings give one: the reverse of destination, for finding at the
// destination what the source no longer has.
func (c *compiled) source(dst string) (string, bool) {
	for _, src := range c.sourceCandidates(dst) {
		if c.destination(src) == dst && c.selectsRepository(src) {
			return src, true
		}
	}
	return "", false
}

func (c *compiled) sourceCandidates(dst string) []string {
	out := []string{dst}
	for _, m := range c.Mappings {
		if dst == m.To || strings.HasPrefix(dst, m.To+"/") {
			rest := strings.TrimPrefix(dst, m.To)
			if m.From == "" {
				if rest != "" {
					out = append(out, rest[1:])
				}
				continue
			}
			out = append(out, m.From+rest)
		}
	}
	return out
}

// destinationPrefixes are the prefixes under which the destination holds
// what the rule copies: where a full run with Deletes looks for what the
// source no longer has. "" means the whole catalog.
func (c *compiled) destinationPrefixes() []string {
	var out []string
	for _, g := range c.Repositories {
		p, _ := literalPrefix(g)
		if p == "" {
			return []string{""}
		}
		out = append(out, c.destination(p))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// attachmentRE matches the tags cosign and similar tools attach to a
// manifest by naming them after its digest: sha256-<hex>.sig, .att,
// .sbom, and the referrers API's fallback tag sha256-<hex>.
var attachmentRE = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.[a-z0-9]+)?$`)

func isAttachmentTag(tag string) bool { return attachmentRE.MatchString(tag) }

// encodeSpec is the rule as the store keeps it: everything but the ID,
// name, state, password and times.
func encodeSpec(r Rule) ([]byte, error) {
	r.ID, r.Name, r.Enabled, r.Remote.Password, r.Remote.HasPassword = 0, "", false, "", false
	r.CreatedAt, r.UpdatedAt = time.Time{}, time.Time{}
	return json.Marshal(r)
}

// decodeRule is a stored rule, without its password.
func decodeRule(m meta.ReplicationRule) (Rule, error) {
	var r Rule
	if err := json.Unmarshal(m.Spec, &r); err != nil {
		return Rule{}, fmt.Errorf("replication rule %d: stored definition: %w", m.ID, err)
	}
	r.ID, r.Name, r.Enabled, r.CreatedAt, r.UpdatedAt = m.ID, m.Name, m.Enabled, m.CreatedAt, m.UpdatedAt
	r.Remote.HasPassword = len(m.Secret) > 0
	return r, nil
}
