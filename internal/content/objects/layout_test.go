package objects

import "testing"

func TestParsePart(t *testing.T) {
	l, err := newLayout("pre")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.part("up1", 5242880, "00ff"); got != "pre/uploads/up1/00000000000005242880-00ff" {
		t.Fatalf("part key = %q", got)
	}
	tests := []struct {
		key    string
		offset int64
		token  string
		ok     bool
	}{
		{"pre/uploads/up1/00000000000005242880-00ff", 5242880, "00ff", true},
		{"pre/uploads/up1/00000000000000000000", 0, "", true}, // written before tokens: removable only
		{"pre/uploads/up1/00000000000000000000-", 0, "", false},
		{"pre/uploads/up1/00000000000000000000-a.b", 0, "", false},
		{"pre/uploads/up1/0000000000000000000-ab", 0, "", false},
		{"pre/uploads/up1/x/00000000000000000000-ab", 0, "", false},
		{"pre/uploads/up2/00000000000000000000-ab", 0, "", false},
		{"pre/uploads/up1/-0000000000000000001-ab", 0, "", false},
	}
	for _, tt := range tests {
		offset, token, ok := l.parsePart("up1", tt.key)
		if ok != tt.ok || (ok && (offset != tt.offset || token != tt.token)) {
			t.Errorf("parsePart(%q) = %d, %q, %v; want %d, %q, %v", tt.key, offset, token, ok, tt.offset, tt.token, tt.ok)
		}
	}
}
