package bench

import (
	"net/url"
	"strings"
)

// nextLink returns the target of the rel="next" entry of an RFC 8288 Link
// header, resolved against the URL of the request that returned it, or nil
// when there is no next page. Registries send the target relative
// ("</v2/_catalog?last=x&n=100>"), so resolution is part of parsing.
func nextLink(base *url.URL, header string) (*url.URL, error) {
	for _, link := range splitLinks(header) {
		target, params, ok := strings.Cut(link, ";")
		target = strings.TrimSpace(target)
		if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		if !hasRel(params, "next") {
			continue
		}
		u, err := url.Parse(target[1 : len(target)-1])
		if err != nil {
			return nil, err
		}
		return base.ResolveReference(u), nil
	}
	return nil, nil
}

// splitLinks splits a Link header at the commas between links, not at commas
// inside a <target> or a quoted parameter.
func splitLinks(header string) []string {
	var links []string
	inTarget, inQuote, start := false, false, 0
	for i := 0; i < len(header); i++ {
		switch c := header[i]; {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == '<':
			inTarget = true
		case c == '>':
			inTarget = false
		case c == ',' && !inTarget:
			links = append(links, header[start:i])
			start = i + 1
		}
	}
	return append(links, header[start:])
}

// hasRel reports whether the ";"-separated link parameters carry rel=want;
// rel may be quoted and may list several space-separated relation types.
func hasRel(params, want string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, value, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"`)
		for rel := range strings.FieldsSeq(value) {
			if strings.EqualFold(rel, want) {
				return true
			}
		}
	}
	return false
}
