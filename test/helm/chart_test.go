// Package helm checks the manifests the wharf chart (deploy/helm/wharf)
// renders: every document decodes strictly into its Kubernetes API type,
// so a misspelt or misplaced field fails, and each mode has what it needs.
// It is a module of its own so that wharf's go.mod does not carry the
// Kubernetes API types; scripts/test.sh runs it.
package helm

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

var chart = filepath.Join("..", "..", "deploy", "helm", "wharf")

// rendered is what the chart renders, decoded.
type rendered struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	config     *corev1.ConfigMap
	pvc        *corev1.PersistentVolumeClaim
	sa         *corev1.ServiceAccount
	pdb        *policyv1.PodDisruptionBudget
	ingress    *networkingv1.Ingress
}

// render runs helm template with a values file of ci/ and decodes every
// document strictly into its type.
func render(t *testing.T, values string, set ...string) rendered {
	t.Helper()
	args := []string{"template", "reg", chart, "--namespace", "registry", "-f", filepath.Join(chart, "ci", values)}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command("helm", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	var r rendered
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		var target any
		switch meta.Kind {
		case "":
			continue
		case "Deployment":
			r.deployment = &appsv1.Deployment{}
			target = r.deployment
		case "Service":
			r.service = &corev1.Service{}
			target = r.service
		case "ConfigMap":
			r.config = &corev1.ConfigMap{}
			target = r.config
		case "PersistentVolumeClaim":
			r.pvc = &corev1.PersistentVolumeClaim{}
			target = r.pvc
		case "ServiceAccount":
			r.sa = &corev1.ServiceAccount{}
			target = r.sa
		case "PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			target = r.pdb
		case "Ingress":
			r.ingress = &networkingv1.Ingress{}
			target = r.ingress
		default:
			t.Fatalf("the chart renders a %s, which this test does not know", meta.Kind)
		}
		if err := decodeStrict(doc, target); err != nil {
			t.Fatalf("%s does not match the Kubernetes API: %v\n%s", meta.Kind, err, doc)
		}
	}
	if r.deployment == nil || r.service == nil || r.config == nil || r.sa == nil {
		t.Fatalf("the chart renders no Deployment, Service, ConfigMap or ServiceAccount")
	}
	return r
}

// decodeStrict decodes a YAML document into an API type as the API server
// does: field names match case-sensitively, and an unknown or duplicate
// field is an error.
func decodeStrict(doc []byte, target any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := json.UnmarshalStrict(js, target)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// checkPod checks what both modes share: probes, security, the config
// mounted, metrics annotations, selectors that match.
func checkPod(t *testing.T, r rendered) *corev1.Container {
	t.Helper()
	d := r.deployment
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v || r.service.Spec.Selector[k] != v {
			t.Errorf("selector label %s=%s is not on the pods or the Service's selector", k, v)
		}
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := &pod.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port.String() != "http" {
		t.Errorf("readiness probe %+v, want GET /readyz on http", c.ReadinessProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v, want GET /healthz", c.LivenessProbe)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 5000 || r.service.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("ports: container %+v, service %+v", c.Ports, r.service.Spec.Ports)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context %+v", sc)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want a non-root user", psc)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want memory requests and limits", c.Resources)
	}
	a := d.Spec.Template.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" || a["prometheus.io/port"] != "5000" {
		t.Errorf("scrape annotations %v", a)
	}
	if strings.Join(c.Args, " ") != "serve --config /etc/wharf/wharf.yaml" {
		t.Errorf("args %v", c.Args)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["config"] != "/etc/wharf" || mounts["tmp"] != "/tmp" {
		t.Errorf("mounts %v: want the config at /etc/wharf and a writable /tmp", mounts)
	}
	if _, ok := r.config.Data["wharf.yaml"]; !ok {
		t.Errorf("the ConfigMap has no wharf.yaml")
	}
	if *pod.TerminationGracePeriodSeconds <= 60 {
		t.Errorf("grace period %ds is not longer than the 60s shutdown timeout", *pod.TerminationGracePeriodSeconds)
	}
	return c
}

// secretEnv maps the container's variables that come from secrets to
// secret/key.
func secretEnv(c *corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			out[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	return out
}

func TestSingleMode(t *testing.T) {
	r := render(t, "single-values.yaml", "replicaCount=5")
	c := checkPod(t, r)
	d := r.deployment
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("single mode: %d replicas, strategy %s; want 1, Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if r.pvc == nil || r.pvc.Spec.Resources.Requests.Storage().String() != "10Gi" || r.pvc.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Fatalf("single mode's volume claim: %+v", r.pvc)
	}
	var claim string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claim != r.pvc.Name {
		t.Errorf("the pod mounts claim %q, the chart makes %q", claim, r.pvc.Name)
	}
	if r.pdb != nil {
		t.Errorf("single mode renders a PodDisruptionBudget, which would block node drains")
	}
	if got := secretEnv(c); len(got) != 1 || got["WHARF_ADMIN_PASSWORD"] != "wharf-admin/password" {
		t.Errorf("secrets in the environment: %v", got)
	}
	if r.ingress == nil || len(r.ingress.Spec.TLS) != 1 || r.ingress.Spec.TLS[0].SecretName != "registry-example-com-tls" ||
		r.ingress.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != r.service.Name || *r.ingress.Spec.IngressClassName != "nginx" {
		t.Errorf("ingress %+v", r.ingress)
	}
	// An existing claim replaces the chart's.
	r = render(t, "single-values.yaml", "persistence.existingClaim=registry-data")
	if r.pvc != nil {
		t.Errorf("with an existing claim the chart still makes one")
	}
}

func TestReplicasMode(t *testing.T) {
	r := render(t, "replicas-values.yaml")
	c := checkPod(t, r)
	d := r.deployment
	if *d.Spec.Replicas != 3 || d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("replicas mode: %d replicas, strategy %+v", *d.Spec.Replicas, d.Spec.Strategy)
	}
	if r.pvc != nil {
		t.Errorf("replicas mode renders a volume claim")
	}
	if r.pdb == nil || r.pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Fatalf("replicas mode's PodDisruptionBudget: %+v", r.pdb)
	}
	for k, v := range r.pdb.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("the budget selects %s=%s, which the pods lack", k, v)
		}
	}
	want := map[string]string{
		"WHARF_ADMIN_PASSWORD":               "wharf-admin/password",
		"WHARF_DATABASE_POSTGRES_URL":        "wharf-postgres/url",
		"WHARF_STORAGE_S3_ACCESS_KEY_ID":     "wharf-s3/accessKeyID",
		"WHARF_STORAGE_S3_SECRET_ACCESS_KEY": "wharf-s3/secretAccessKey",
	}
	got := secretEnv(c)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s from %q, want secret %s", k, got[k], v)
		}
	}
	for _, s := range []string{"url:", "postgres://", "accessKeyID", "secretAccessKey", "adminPassword"} {
		if strings.Contains(r.config.Data["wharf.yaml"], s) {
			t.Errorf("the ConfigMap mentions %q: secrets belong in the environment\n%s", s, r.config.Data["wharf.yaml"])
		}
	}
	// Without credentials, S3 is reached with the pod's own identity.
	r = render(t, "replicas-values.yaml", "s3.credentialsSecret.name=", "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::1:role/wharf")
	if got := secretEnv(&r.deployment.Spec.Template.Spec.Containers[0]); got["WHARF_STORAGE_S3_ACCESS_KEY_ID"] != "" {
		t.Errorf("S3 keys from a secret that was not given: %v", got)
	}
	if r.sa.Annotations["eks.amazonaws.com/role-arn"] == "" || r.deployment.Spec.Template.Spec.ServiceAccountName != r.sa.Name {
		t.Errorf("service account %+v", r.sa)
	}
}

// TestRefusals: values that cannot work fail the render with a message
// naming the value.
func TestRefusals(t *testing.T) {
	for _, c := range []struct{ values, set, want string }{
		{"replicas-values.yaml", "postgres.urlSecret.name=", "postgres.urlSecret.name"},
		{"replicas-values.yaml", "s3.bucket=", "s3.bucket"},
		{"single-values.yaml", "mode=cluster", "/mode"},
		{"single-values.yaml", "ingress.tls.secretName=", "ingress.tls.secretName"},
		{"single-values.yaml", "persistence.sise=1Gi", "sise"},
	} {
		out, err := exec.Command("helm", "template", "reg", chart, "-f", filepath.Join(chart, "ci", c.values), "--set", c.set).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("--set %s: %v; want a refusal naming %s\n%s", c.set, err, c.want, out)
		}
	}
}
