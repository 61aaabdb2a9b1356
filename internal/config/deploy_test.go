package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDeployExamples keeps the example configurations in deploy/ working:
// each loads and validates, with the secrets their comments say come from
// the environment.
func TestDeployExamples(t *testing.T) {
	env := []string{"WHARF_DATABASE_POSTGRES_URL=postgres://wharf:secret@db:5432/wharf"}
	for _, name := range []string{"single-node.yaml", "s3-postgres.yaml"} {
		c, err := Load(filepath.Join("..", "..", "deploy", name), env)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// The Kubernetes manifest embeds its configuration in a ConfigMap.
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "wharf.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	found := false
	for {
		var doc struct {
			Kind string
			Data map[string]string
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Kind != "ConfigMap" {
			continue
		}
		found = true
		path := filepath.Join(t.TempDir(), "wharf.yaml")
		if err := os.WriteFile(path, []byte(doc.Data["wharf.yaml"]), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, env)
		if err != nil {
			t.Fatalf("kubernetes ConfigMap: %v", err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("kubernetes ConfigMap: %v", err)
		}
	}
	if !found {
		t.Fatal("no ConfigMap in deploy/kubernetes/wharf.yaml")
	}
}
