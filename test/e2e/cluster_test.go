package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// cluster is several wharf processes sharing one bucket prefix and one
// PostgreSQL database, as replicas behind a load balancer would.
type cluster struct {
	t     *testing.T
	env   []string
	nodes []*wharfProcess
}

func startCluster(t *testing.T, n int, env ...string) *cluster {
	t.Helper()
	s3, pg := os.Getenv("WHARF_TEST_S3_ENDPOINT"), os.Getenv("WHARF_TEST_POSTGRES_URL")
	if s3 == "" || pg == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("the cluster test needs WHARF_TEST_S3_ENDPOINT and WHARF_TEST_POSTGRES_URL")
		}
		t.Skip("no S3 and PostgreSQL test services (scripts/test.sh starts them)")
	}
	c := &cluster{t: t, env: append(s3PostgresEnv(t, s3, pg), env...)}
	for i := 0; i < n; i++ {
		c.nodes = append(c.nodes, startWharf(t, t.TempDir(), c.env...))
	}
	return c
}

func (c *cluster) url(i int) string { return "http://" + c.nodes[i].addr }

// TestCluster runs three replicas on one bucket and one database.
func TestCluster(t *testing.T) {
	c := startCluster(t, 3)
	a, b, cc := c.url(0), c.url(1), c.url(2)

	t.Run("push through one, pull through the others", func(t *testing.T) {
		l := &crashLoad{base: a, all: map[digest.Digest]bool{}}
		l.pushOne("cluster/app", "v1")
		if len(l.acks) != 1 {
			t.Fatal("push through replica a failed")
		}
		checkImage(t, b, l.acks[0])
		checkImage(t, cc, l.acks[0])
	})

	t.Run("an upload moves between replicas chunk by chunk", func(t *testing.T) {
		blob := randomBytes(3 << 20)
		d := digest.FromBytes(blob)
		l := &crashLoad{base: a}
		resp, err := l.req("POST", "/v2/cluster/moved/blobs/uploads/", nil, "", "")
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start on a: %v %v", resp, err)
		}
		loc := resp.Header.Get("Location")
		for i, base := range []string{b, cc} {
			l.base = base
			start, end := i*(1<<20), (i+1)*(1<<20)-1
			resp, err = l.req("PATCH", loc, blob[start:end+1], "application/octet-stream", fmt.Sprintf("%d-%d", start, end))
			if err != nil || resp.StatusCode != http.StatusAccepted {
				t.Fatalf("chunk %d on replica %d: %v %v", i, i+1, resp, err)
			}
		}
		l.base = a
		resp, err = l.req("PUT", loc+"?digest="+d.String(), blob[2<<20:], "application/octet-stream", "")
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("commit on a: %v %v", resp, err)
		}
		checkBlob(t, b, "cluster/moved", d, len(blob))
	})

	t.Run("a tag moved on one replica is seen on the others", func(t *testing.T) {
		l := &crashLoad{base: a, all: map[digest.Digest]bool{}}
		l.pushOne("cluster/tags", "latest")
		first := l.acks[0].manifest
		if got := manifestDigest(t, b, "cluster/tags", "latest"); got != first {
			t.Fatalf("b sees %s, want %s", got, first) // b now caches it
		}
		l.acks = nil
		l.pushOne("cluster/tags", "latest") // a moves the tag
		second := l.acks[0].manifest
		deadline := time.Now().Add(5 * time.Second)
		for manifestDigest(t, b, "cluster/tags", "latest") != second {
			if time.Now().After(deadline) {
				t.Fatal("replica b still serves the old manifest for latest 5s after a moved it")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("a replica killed mid-upload loses nothing acknowledged", func(t *testing.T) {
		blob := randomBytes(8 << 20)
		d := digest.FromBytes(blob)
		l := &crashLoad{base: b}
		loc, acked := startSlowUpload(t, l, blob) // streams its second chunk into b
		// startSlowUpload used repo crash/slow on b.
		time.Sleep(300 * time.Millisecond)
		c.nodes[1].kill()
		l.base = cc
		resp, err := l.req("GET", loc, nil, "", "")
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("upload status on c after b died: %v %v", resp, err)
		}
		end, err := strconv.ParseInt(strings.TrimPrefix(resp.Header.Get("Range"), "0-"), 10, 64)
		if err != nil || end+1 < acked {
			t.Fatalf("acknowledged bytes lost: Range %q, acknowledged %d", resp.Header.Get("Range"), acked)
		}
		resp, err = l.req("PUT", loc+"?digest="+d.String(), blob[end+1:], "application/octet-stream", fmt.Sprintf("%d-%d", end+1, len(blob)-1))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("finish on c: %v %v", resp, err)
		}
		checkBlob(t, a, "crash/slow", d, len(blob))
	})

	t.Run("a replica killed under load loses nothing acknowledged", func(t *testing.T) {
		// Replica b is dead; a and c take pushes until c is killed.
		loads := []*crashLoad{{base: a, all: map[digest.Digest]bool{}}, {base: cc, all: map[digest.Digest]bool{}}}
		stop := make(chan struct{})
		done := make(chan struct{})
		for i, l := range loads {
			go func() { l.run(stop, 3, 10+i); done <- struct{}{} }()
		}
		time.Sleep(800 * time.Millisecond)
		c.nodes[2].kill()
		time.Sleep(200 * time.Millisecond)
		close(stop)
		<-done
		<-done
		n := 0
		for _, l := range loads {
			for _, ack := range l.acks {
				checkImage(t, a, ack)
				n++
			}
			for d := range l.all {
				checkBlobIsWholeOrAbsent(t, a, d)
			}
		}
		if len(loads[0].acks) == 0 || len(loads[1].acks) == 0 {
			t.Fatalf("a replica acknowledged nothing (a %d, c %d); the load did not run", len(loads[0].acks), len(loads[1].acks))
		}
		t.Logf("the survivor serves all %d images acknowledged by it and by the replica killed", n)
	})
}

// TestClusterJobTakeover: the upload expiry job runs on one replica at a
// time; when that replica is killed another takes the job over and
// expires an upload abandoned after the kill.
func TestClusterJobTakeover(t *testing.T) {
	c := startCluster(t, 3, "WHARF_UPLOADS_EXPIRE_AFTER=1s", "WHARF_UPLOADS_EXPIRE_INTERVAL=200ms")
	runs := func() []float64 {
		r := make([]float64, len(c.nodes))
		for i := range c.nodes {
			r[i] = jobRuns(t, c.url(i), "expire-uploads")
		}
		return r
	}
	// Let every replica try for the lease several times.
	time.Sleep(1500 * time.Millisecond)
	before := runs()
	holder, holders := -1, 0
	for i, n := range before {
		if n > 0 {
			holder, holders = i, holders+1
		}
	}
	if holders != 1 || before[holder] < 3 {
		t.Fatalf("job runs per replica %v: want one replica running it, several times", before)
	}

	c.nodes[holder].kill()
	t.Logf("killed replica %d, which had run the job %v times", holder, before[holder])
	live := (holder + 1) % len(c.nodes)
	l := &crashLoad{base: c.url(live)}
	resp, err := l.req("POST", "/v2/cluster/abandoned/blobs/uploads/", nil, "", "")
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %v %v", resp, err)
	}
	loc := resp.Header.Get("Location")
	if resp, err = l.req("PATCH", loc, randomBytes(1000), "application/octet-stream", "0-999"); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first chunk: %v %v", resp, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err = l.req("GET", loc, nil, "", "")
		if err == nil && resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload abandoned after the kill was not expired within 15s (status %v %v)", resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := runs()
	took := 0
	for i, n := range after {
		if i != holder && n > before[i] {
			took++
		}
	}
	if took != 1 {
		t.Fatalf("job runs per live replica before %v, after %v: want exactly one to have taken over", before, after)
	}
}

// jobRuns reads wharf_job_runs_total for job from a replica's /metrics, or
// 0 for a replica that has not run it (or is dead).
func jobRuns(t *testing.T, base, job string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	prefix := `wharf_job_runs_total{name="` + job + `"} `
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

func manifestDigest(t *testing.T, base, repo, tag string) digest.Digest {
	t.Helper()
	resp, err := http.Get(base + "/v2/" + repo + "/manifests/" + tag)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s:%s on %s: %d %s", repo, tag, base, resp.StatusCode, body)
	}
	return digest.FromBytes(body)
}
