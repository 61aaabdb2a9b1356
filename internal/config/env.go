package config

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

var errEOF = io.EOF

// EnvName turns a dotted YAML option path into its environment variable:
// http.shutdownTimeout becomes WHARF_HTTP_SHUTDOWN_TIMEOUT.
func EnvName(option string) string {
	var b strings.Builder
	b.WriteString("WHARF")
	for _, part := range strings.Split(option, ".") {
		b.WriteByte('_')
		rs := []rune(part)
		for i, r := range rs {
			// A word starts at an upper-case letter after a lower-case one,
			// or at the last capital of an acronym: accessKeyID, tlsCert.
			if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) ||
				(i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// Options lists every option as a dotted YAML path, in declaration order.
func Options() []string {
	var out []string
	walk(reflect.ValueOf(&Config{}).Elem(), "", func(path string, _ reflect.Value) { out = append(out, path) })
	return out
}

// walk calls fn for every leaf field of v with its dotted YAML path.
func walk(v reflect.Value, prefix string, fn func(path string, f reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		key := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if key == "" || key == "-" {
			continue
		}
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			walk(f, path, fn)
			continue
		}
		fn(path, f)
	}
}

// NotOptions are the WHARF_* variables that are not options and that the
// configuration therefore ignores, and why each is allowed: they are set in
// the shells and environments that also run wharf.
//   - WHARF_URL, WHARF_TOKEN, WHARF_USER, WHARF_PASSWORD: the management
//     commands' connection (docs/management.md).
//   - WHARF_SHARED, WHARF_GC_STRESS: knobs of the test suite.
//
// Variables starting with [TestPrefix] belong to the test suite too.
var NotOptions = []string{"WHARF_URL", "WHARF_TOKEN", "WHARF_USER", "WHARF_PASSWORD", "WHARF_SHARED", "WHARF_GC_STRESS"}

// TestPrefix starts the variables of the test suite's services
// (WHARF_TEST_POSTGRES_URL, WHARF_TEST_S3_ENDPOINT, ...), which the
// configuration ignores.
const TestPrefix = "WHARF_TEST_"

// applyEnv overlays WHARF_* variables onto c. Any other WHARF_* variable
// is an error naming the closest option, so a misspelt one
// (WHARF_AUTH_ENABLE) cannot leave the registry open without a word.
func applyEnv(c *Config, environ []string) error {
	env := make(map[string]string)
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "WHARF_") {
			env[k] = v
		}
	}
	if err := unknownEnv(env); err != nil {
		return err
	}
	var err error
	walk(reflect.ValueOf(c).Elem(), "", func(path string, f reflect.Value) {
		name := EnvName(path)
		s, ok := env[name]
		if !ok || err != nil {
			return
		}
		if e := setField(f, s); e != nil {
			err = fmt.Errorf("%s (%s): %w", name, path, e)
		}
	})
	return err
}

// Set assigns the option at a dotted path from its text form, for flags.
func (c *Config) Set(option, value string) error {
	var err error
	found := false
	walk(reflect.ValueOf(c).Elem(), "", func(path string, f reflect.Value) {
		if path == option {
			found = true
			if e := setField(f, value); e != nil {
				err = fmt.Errorf("%s: %w", option, e)
			}
		}
	})
	if !found {
		return fmt.Errorf("unknown option %q", option)
	}
	return err
}

var durationType = reflect.TypeOf(time.Duration(0))

func setField(f reflect.Value, s string) error {
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration: %q", s)
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.Kind() == reflect.Int || f.Kind() == reflect.Int64 || f.Kind() == reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		f.SetInt(n)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", s)
		}
		f.SetBool(b)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String && !strings.HasPrefix(strings.TrimSpace(s), "["):
		// A list of names, comma-separated: WHARF_AUTH_LDAP_ADMIN_GROUPS=admins,ops.
		var out []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		f.Set(reflect.ValueOf(out))
	case f.Kind() == reflect.Slice || f.Kind() == reflect.Map:
		// Lists of rules and maps, as YAML in flow style (or JSON):
		// WHARF_AUTH_LDAP_GROUP_ROLES='[{group: devs, namespace: team-a, role: developer}]'.
		v := reflect.New(f.Type())
		if err := yaml.Unmarshal([]byte(s), v.Interface()); err != nil {
			return fmt.Errorf("not a YAML %s: %v", f.Type(), err)
		}
		f.Set(v.Elem())
	default:
		return fmt.Errorf("unsupported option type %s", f.Type())
	}
	return nil
}

// unknownEnv refuses the WHARF_* variables of env that are neither options
// nor [NotOptions] nor the test suite's, each with the closest option.
func unknownEnv(env map[string]string) error {
	options := map[string]string{} // variable -> option
	for _, o := range Options() {
		options[EnvName(o)] = o
	}
	var errs []error
	for name := range env {
		if _, ok := options[name]; ok || slices.Contains(NotOptions, name) || strings.HasPrefix(name, TestPrefix) {
			continue
		}
		msg := fmt.Sprintf("%s is not a wharf option", name)
		if v, o := closestOption(name, options); v != "" {
			msg += fmt.Sprintf("; did you mean %s (%s)?", v, o)
		} else {
			msg += "."
		}
		errs = append(errs, errors.New(msg+" Unset it, or see docs/configuration.md for the options"))
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// closestOption returns the option variable nearest to name by edit
// distance, if one is near enough to be a misspelling of it.
func closestOption(name string, options map[string]string) (variable, option string) {
	best := -1
	for v, o := range options {
		d := editDistance(name, v)
		if best < 0 || d < best || (d == best && v < variable) {
			best, variable, option = d, v, o
		}
	}
	if best > max(3, len(name)/3) {
		return "", ""
	}
	return variable, option
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
