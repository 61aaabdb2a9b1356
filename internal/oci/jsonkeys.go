package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
)

// ErrDuplicateKey is returned, wrapped in ErrManifestInvalid, for a JSON
// object that holds one key twice.
var ErrDuplicateKey = errors.New("duplicate JSON key")

// checkUniqueKeys refuses a JSON document in which an object, at any depth,
// holds a key twice. Decoders disagree on duplicates (Go's encoding/json
// keeps the last, others the first or refuse), so a manifest with two
// "layers" could be checked and counted here as one image and pulled by a
// client as another. Keys that differ only in case count as the same key:
// Go's encoding/json, which docker, containerd and crane decode manifests
// with, matches field names without regard to case, so "layers" and
// "Layers" would fill the same field for them.
//
// A document that is not valid JSON passes: the decoder that follows
// reports the syntax error.
func checkUniqueKeys(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var stack []keyFrame
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return nil // a syntax error, for the decoder to report
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			top := &stack[n-1]
			if tok == json.Delim('}') {
				stack = closeFrame(stack)
				continue
			}
			key, _ := tok.(string)
			folded := foldKey(key)
			if prev, dup := top.keys[folded]; dup {
				if prev == key {
					return fmt.Errorf("%w %q %s", ErrDuplicateKey, key, keyPath(stack))
				}
				return fmt.Errorf("%w: %q and %q %s, which Go clients read as one field",
					ErrDuplicateKey, prev, key, keyPath(stack))
			}
			top.keys[folded] = key
			top.key, top.wantKey = key, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, keyFrame{object: true, wantKey: true, keys: map[string]string{}})
		case json.Delim('['):
			stack = append(stack, keyFrame{})
		case json.Delim(']'), json.Delim('}'):
			stack = closeFrame(stack)
		default:
			valueDone(stack)
		}
	}
}

// keyFrame is one open object or array.
type keyFrame struct {
	object  bool
	wantKey bool              // an object's next token is a key
	keys    map[string]string // folded key -> key as written
	key     string            // the key whose value is being read
	index   int               // an array's element being read
}

func closeFrame(stack []keyFrame) []keyFrame {
	stack = stack[:len(stack)-1]
	valueDone(stack)
	return stack
}

// valueDone moves the innermost open object or array past a finished value.
func valueDone(stack []keyFrame) {
	if len(stack) == 0 {
		return
	}
	top := &stack[len(stack)-1]
	if top.object {
		top.wantKey = true
	} else {
		top.index++
	}
}

// keyPath says where the innermost object of stack is, e.g.
// "in manifests[0].platform".
func keyPath(stack []keyFrame) string {
	var b strings.Builder
	for _, f := range stack[:len(stack)-1] {
		if f.object {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	if b.Len() == 0 {
		return "at the top level"
	}
	return "in " + b.String()
}

// foldKey folds a key as encoding/json folds field names.
func foldKey(k string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, k)
}
