package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Trust settings (migration 0012) are read by every replica into memory
// and changed in a transaction that announces the namespace under its name
// on the change channel. Signature verdicts are a cache written outside
// any transaction of a push or pull.

const (
	trustColumns      = `namespace, COALESCE(key_set, ''), COALESCE(policy, ''), version, updated_at`
	qTrustSettings    = `SELECT ` + trustColumns + ` FROM trust_settings WHERE namespace = $1`
	qAllTrustSettings = `SELECT ` + trustColumns + ` FROM trust_settings
		WHERE key_set IS NOT NULL OR policy IS NOT NULL ORDER BY namespace`

	// The writes insert only for a namespace that exists, so that a
	// missing one is no row changed rather than a failed statement (which
	// would abort a PostgreSQL transaction).
	qPutKeySet = `INSERT INTO trust_settings (namespace, key_set, policy, version, updated_at)
		SELECT name, $2, NULL, 1, $3 FROM namespaces WHERE name = $1
		ON CONFLICT (namespace) DO UPDATE SET key_set = excluded.key_set,
			version = trust_settings.version + 1, updated_at = excluded.updated_at`
	qPutImagePolicy = `INSERT INTO trust_settings (namespace, key_set, policy, version, updated_at)
		SELECT name, NULL, $2, 1, $3 FROM namespaces WHERE name = $1
		ON CONFLICT (namespace) DO UPDATE SET policy = excluded.policy,
			version = trust_settings.version + 1, updated_at = excluded.updated_at`

	qIndexes = `SELECT c.parent_digest FROM repositories r JOIN manifest_children c ON c.repository_id = r.id
		WHERE r.name = $1 AND c.child_digest = $2 ORDER BY c.parent_digest`

	qSignatureVerdicts = `SELECT v.signature, v.fingerprint, v.verdict, v.verified_at, v.valid_until
		FROM repositories r JOIN signature_verdicts v ON v.repository_id = r.id
		WHERE r.name = $1 AND v.digest = $2 AND v.fingerprint = $3 ORDER BY v.signature`
	// qPutSignatureVerdict stores a verdict for a manifest that exists; one
	// that is gone inserts nothing.
	qPutSignatureVerdict = `INSERT INTO signature_verdicts
		(repository_id, digest, fingerprint, signature, verdict, verified_at, valid_until)
		SELECT m.repository_id, m.digest, $3, $4, $5, $6, $7
		FROM repositories r JOIN manifests m ON m.repository_id = r.id WHERE r.name = $1 AND m.digest = $2
		ON CONFLICT (repository_id, digest, fingerprint, signature) DO UPDATE SET
			verdict = excluded.verdict, verified_at = excluded.verified_at, valid_until = excluded.valid_until`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(qTrustSettings, qAllTrustSettings, qPutKeySet, qPutImagePolicy, qIndexes, qSignatureVerdicts, qPutSignatureVerdict)

func scanTrustSettings(row Row) (meta.TrustSettings, error) {
	var s meta.TrustSettings
	var keySet, policy string
	if err := row.Scan(&s.Namespace, &keySet, &policy, &s.Version, &s.UpdatedAt); err != nil {
		return meta.TrustSettings{}, err
	}
	if keySet != "" {
		s.KeySet = []byte(keySet)
	}
	if policy != "" {
		s.Policy = []byte(policy)
	}
	return s, nil
}

// TrustSettings returns the settings of namespace, or ErrNotFound.
func (r *Reads) TrustSettings(ctx context.Context, namespace string) (meta.TrustSettings, error) {
	s, err := scanTrustSettings(r.db.QueryRow(ctx, qTrustSettings, namespace))
	if err != nil {
		return meta.TrustSettings{}, r.notFound(err, "trust settings of %s", namespace)
	}
	return s, nil
}

// AllTrustSettings lists the settings of every namespace with some.
func (r *Reads) AllTrustSettings(ctx context.Context) ([]meta.TrustSettings, error) {
	out, err := collect(ctx, r.db, scanTrustSettings, qAllTrustSettings)
	if err != nil {
		return nil, r.wrap(err, "trust settings")
	}
	return out, nil
}

// Indexes lists the indexes of repo that list manifest d.
func (r *Reads) Indexes(ctx context.Context, repo string, d digest.Digest) ([]digest.Digest, error) {
	ds, err := names(ctx, r.db, qIndexes, repo, d.String())
	if err != nil {
		return nil, r.wrap(err, "indexes of %s listing %s", repo, d)
	}
	return digests(ds), nil
}

// PutKeySet sets or (nil) removes the key set of namespace.
func (t *Tx) PutKeySet(ctx context.Context, namespace string, keySet []byte) error {
	return t.putTrust(ctx, "key set", qPutKeySet, namespace, keySet)
}

// PutImagePolicy sets or (nil) removes the image policy of namespace.
func (t *Tx) PutImagePolicy(ctx context.Context, namespace string, policy []byte) error {
	return t.putTrust(ctx, "image policy", qPutImagePolicy, namespace, policy)
}

func (t *Tx) putTrust(ctx context.Context, what, query, namespace string, value []byte) error {
	var v any
	if value != nil {
		v = string(value)
	}
	ok, err := affected(ctx, t.db, query, namespace, v, time.Now())
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	if err != nil {
		return t.wrap(err, "set %s of %s", what, namespace)
	}
	return t.notifyChange(ctx, namespace)
}

// SignatureVerdicts returns the cached verdicts on the signatures of
// manifest d of repo under fingerprint.
func (s *Store) SignatureVerdicts(ctx context.Context, repo string, d digest.Digest, fingerprint string) ([]meta.SignatureVerdict, error) {
	out, err := collect(ctx, s.db, func(row Row) (meta.SignatureVerdict, error) {
		var v meta.SignatureVerdict
		var verdict string
		var until *time.Time
		err := row.Scan(&v.Signature, &v.Fingerprint, &verdict, &v.VerifiedAt, &until)
		v.Verdict, v.ValidUntil = []byte(verdict), fromNull(until)
		return v, err
	}, qSignatureVerdicts, repo, d.String(), fingerprint)
	if err != nil {
		return nil, s.wrap(err, "signature verdicts of %s@%s", repo, d)
	}
	return out, nil
}

// PutSignatureVerdicts stores verdicts and drops those of manifest d of
// repo under other fingerprints or on signatures not in current, in one
// transaction.
func (s *Store) PutSignatureVerdicts(ctx context.Context, repo string, d digest.Digest, fingerprint string, verdicts []meta.SignatureVerdict, current []string) error {
	prune := `DELETE FROM signature_verdicts WHERE repository_id = (SELECT id FROM repositories WHERE name = $1)
		AND digest = $2 AND (fingerprint <> $3 OR NOT (signature ` + s.d.InList(4) + `))`
	if current == nil {
		current = []string{}
	}
	batch := make([][]any, len(verdicts))
	for i, v := range verdicts {
		batch[i] = []any{repo, d.String(), fingerprint, v.Signature, string(v.Verdict), orNow(v.VerifiedAt), nullTime(v.ValidUntil)}
	}
	err := s.transact(ctx, func(db DB) error {
		if _, err := db.Exec(ctx, prune, repo, d.String(), fingerprint, current); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		return db.ExecBatch(ctx, qPutSignatureVerdict, batch)
	})
	if err = s.d.Constraint(err); errors.Is(err, meta.ErrNotFound) {
		return nil // the manifest was deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("store signature verdicts of %s@%s: %w", repo, d, err)
	}
	return nil
}
