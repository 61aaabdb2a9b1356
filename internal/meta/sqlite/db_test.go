package sqlite

import "testing"

// TestTranslate: the row-lock clauses of PostgreSQL go, wherever they
// stand, and nothing else changes.
func TestTranslate(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`SELECT 1 FROM blobs WHERE digest = $1 FOR SHARE`, `SELECT 1 FROM blobs WHERE digest = $1`},
		{`SELECT size FROM blobs WHERE digest = $1 FOR UPDATE`, `SELECT size FROM blobs WHERE digest = $1`},
		{"SELECT rb.digest FROM rb\n\t\tORDER BY rb.digest\n\t\tFOR SHARE OF rb, b", "SELECT rb.digest FROM rb\n\t\tORDER BY rb.digest"},
		{"INSERT INTO tags SELECT m.x FROM m WHERE m.d = $3\n\t\tFOR SHARE OF m\n\t\tON CONFLICT (a) DO NOTHING", "INSERT INTO tags SELECT m.x FROM m WHERE m.d = $3\n\t\tON CONFLICT (a) DO NOTHING"},
		{`SELECT id FROM outbox ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED`, `SELECT id FROM outbox ORDER BY id LIMIT 10`},
		{`SELECT 1 FROM q for no key update of q nowait`, `SELECT 1 FROM q`},
		{`SELECT * FROM fortunes WHERE kind = 'FOR UPDATE'`, `SELECT * FROM fortunes WHERE kind = 'FOR UPDATE'`},
		{`SELECT name FROM tags WHERE repository_id = $1 ORDER BY name LIMIT $3`, `SELECT name FROM tags WHERE repository_id = $1 ORDER BY name LIMIT $3`},
	} {
		if got := translate(tt.in); got != tt.want {
			t.Errorf("translate(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}
