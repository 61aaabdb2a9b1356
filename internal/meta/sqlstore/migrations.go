package sqlstore

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// ReadMigrations reads a backend's schema changes, the files
// migrations/NNNN_what.sql of fsys, and calls add with each in the order
// of its number. It refuses a misnamed file, a gap or a duplicate, so that
// a migration numbered wrongly fails every test.
func ReadMigrations(fsys fs.FS, add func(version int, name, sql string)) error {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return err
	}
	for i, name := range names { // fs.Glob returns names sorted
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migration %s: name must be NNNN_what.sql", base)
		}
		if v != i+1 {
			return fmt.Errorf("migration %s: expected number %d", base, i+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		add(v, base, string(b))
	}
	return nil
}
