package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
)

// TestDeniedSaysWhy pushes with crane as a user who may only pull, and
// lists tags as one who is no member: crane prints the registry's reason,
// which names the action, the repository, the role it needs and the
// namespace, and says of a private namespace exactly what it says of one
// that does not exist. Before, both printed "requested access to the
// resource is denied". (An outsider's push stops at crane's first HEAD,
// whose 403 has no body to carry a reason.)
func TestDeniedSaysWhy(t *testing.T) {
	needTools(t, "crane")
	r := startClientRegistry(t)
	R := r.p.addr
	r.f.user("reader", "reader-password")
	r.f.user("outsider", "outsider-password")
	r.f.namespace("builds", map[string]auth.Role{"reader": auth.RoleReadonly, "dev": auth.RoleDeveloper})
	cranePush(t, r, t.TempDir(), "builds/app:v1", "in builds")
	w := t.TempDir()
	writeFile(t, filepath.Join(w, "src", "hello.txt"), "hello\n")
	sh(t, w, nil, true, "tar", "-cf", filepath.Join(w, "layer.tar"), "-C", filepath.Join(w, "src"), ".")
	crane := func(user string, args ...string) string {
		t.Helper()
		env := []string{"DOCKER_CONFIG=" + filepath.Join(w, user)}
		sh(t, w, env, true, "crane", "auth", "login", R, "-u", user, "-p", user+"-password")
		return sh(t, w, env, false, "crane", append([]string{"--insecure"}, args...)...)
	}
	push := func(user, ref string) string {
		t.Helper()
		return crane(user, "append", "--oci-empty-base", "-f", "layer.tar", "-t", R+"/"+ref)
	}
	out := push("reader", "builds/app:v1")
	if want := "push to builds/app is denied: it needs role developer, ci, maintainer or admin in namespace builds; user reader has role readonly there"; !strings.Contains(out, want) {
		t.Errorf("crane as a reader:\n%s\nwant it to say %q", out, want)
	}
	private := crane("outsider", "ls", R+"/builds/app")
	absent := crane("outsider", "ls", R+"/absent/app")
	if want := "pull from builds/app is denied: it needs a role in namespace builds, and namespace builds does not exist, or is private and user outsider is not a member of it"; !strings.Contains(private, want) {
		t.Errorf("crane as an outsider:\n%s\nwant it to say %q", private, want)
	}
	// Compare the registry's reason only; crane's output names the host.
	reason := func(s string) string {
		i := strings.Index(s, "DENIED: ")
		if i < 0 {
			t.Fatalf("no DENIED in crane's output:\n%s", s)
		}
		return strings.TrimSpace(strings.SplitN(s[i:], "\n", 2)[0])
	}
	if a, b := strings.ReplaceAll(reason(private), "builds", "absent"), reason(absent); a != b {
		t.Errorf("a private namespace reads differently from an absent one:\n%s\n%s", a, b)
	}
}
