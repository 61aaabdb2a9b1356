package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// isNoRows reports whether err says a query had no row.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows)
}

// nullTime is t as a nullable column value: NULL for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fromNull is the time scanned into t, the zero time for NULL.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// later returns the later of a and the time scanned into b (nil for NULL).
func later(a time.Time, b *time.Time) time.Time {
	if b == nil || !b.After(a) {
		return a
	}
	return *b
}

// nullText is s as a nullable column value: NULL for "".
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// collect runs query on db and scans every row with scan, returning an
// empty, not nil, slice when there are none.
func collect[T any](ctx context.Context, db DB, scan func(Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// each runs query on db and calls fn for every row.
func each(ctx context.Context, db DB, fn func(Row) error, query string, args ...any) error {
	_, err := collect(ctx, db, func(row Row) (struct{}, error) { return struct{}{}, fn(row) }, query, args...)
	return err
}

// names runs a query returning one column of text.
func names(ctx context.Context, db DB, query string, args ...any) ([]string, error) {
	return collect(ctx, db, scanText, query, args...)
}

func scanText(row Row) (string, error) {
	var s string
	err := row.Scan(&s)
	return s, err
}

// text lets a digest be scanned as the text it is, which both drivers
// scan without reflection.
func text(d *digest.Digest) *string {
	return (*string)(d)
}

// digests converts ss to digests.
func digests(ss []string) []digest.Digest {
	ds := make([]digest.Digest, len(ss))
	for i, s := range ss {
		ds[i] = digest.Digest(s)
	}
	return ds
}

// exists reports whether query returns a row.
func exists(ctx context.Context, db DB, query string, args ...any) (bool, error) {
	var one int
	err := db.QueryRow(ctx, query, args...).Scan(&one)
	if isNoRows(err) {
		return false, nil
	}
	return err == nil, err
}

// affected runs a statement and reports whether it changed a row.
func affected(ctx context.Context, db DB, query string, args ...any) (bool, error) {
	n, err := db.Exec(ctx, query, args...)
	return n > 0, err
}
