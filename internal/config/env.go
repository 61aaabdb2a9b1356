package config

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
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

// applyEnv overlays WHARF_* variables onto c.
func applyEnv(c *Config, environ []string) error {
	env := make(map[string]string)
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "WHARF_") {
			env[k] = v
		}
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
	default:
		return fmt.Errorf("unsupported option type %s", f.Type())
	}
	return nil
}
