package policy

import (
	"errors"
	"fmt"
)

// ImmutabilityRule makes the tags of a namespace that match Pattern
// immutable: once pushed, such a tag can be neither moved to another
// manifest nor deleted, and nor can the manifest it names.
type ImmutabilityRule struct {
	ID        int64  `json:"id"`
	Namespace string `json:"namespace"`
	Pattern   string `json:"pattern"`
}

// Validate reports what is wrong with r, naming the field.
func (r ImmutabilityRule) Validate() error {
	var errs []error
	if err := validateNamespace(r.Namespace); err != nil {
		errs = append(errs, fmt.Errorf("namespace: %w", err))
	}
	if _, err := ParsePattern(r.Pattern); err != nil {
		errs = append(errs, fmt.Errorf("pattern: %w", err))
	}
	return errors.Join(errs...)
}

// String describes the rule for error messages, e.g. `rule 3 (team-a: "v*")`.
func (r ImmutabilityRule) String() string {
	return fmt.Sprintf("immutability rule %d (%s: %q)", r.ID, r.Namespace, r.Pattern)
}

// Immutable returns the first of rules whose pattern matches tag, and
// whether there is one. Rules with a malformed pattern match nothing; they
// cannot be stored through [ImmutabilityRule.Validate].
func Immutable(rules []ImmutabilityRule, tag string) (ImmutabilityRule, bool) {
	for _, r := range rules {
		p, err := ParsePattern(r.Pattern)
		if err == nil && p.Match(tag) {
			return r, true
		}
	}
	return ImmutabilityRule{}, false
}
