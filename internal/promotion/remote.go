package promotion

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/remote"
)

// Remote is a registry images may be promoted to: another wharf, or any
// OCI registry.
type Remote struct {
	// URL is the registry's base URL, http(s)://host[:port].
	URL string
	// Client reaches it, with its credentials.
	Client *remote.Client
	// Policy is the local namespace whose promotion policy gates
	// promotions to this remote, and into which the caller must be
	// allowed to promote; "" means the namespace of the target
	// repository's name.
	Policy string
}

// copyRemote copies t's image with its platforms and referrers to the
// remote registry, children before the indexes that list them and subjects
// before their referrers, blobs before the manifests that reference them,
// each skipped when the remote holds it already, and tags it last: an
// interrupted copy leaves the tag where it was, and running it again
// sends only what is missing. The record says where it went.
func (s *Service) copyRemote(ctx context.Context, c access.Caller, t *target, rec meta.PromotionRecord, requestID int64, res Result) (Result, error) {
	rm := t.remote
	closure, err := s.opts.Registry.Closure(ctx, t.sourceRepo, t.digest)
	if err != nil {
		return Result{}, err
	}
	var copied []registry.PromotedManifest
	copyErr := func() error {
		for _, m := range closure {
			if err := s.pushBlobs(ctx, rm.Client, t.sourceRepo, t.targetRepo, m.Blobs); err != nil {
				return err
			}
			desc := oci.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Payload))}
			had := false
			if got, err := rm.Client.HeadManifest(ctx, t.targetRepo, m.Digest.String()); err == nil && got.Digest == m.Digest {
				had = true
			} else if err := rm.Client.PutManifest(ctx, t.targetRepo, "", desc, m.Payload); err != nil {
				return err
			}
			if m.Tag != "" {
				if err := rm.Client.PutManifest(ctx, t.targetRepo, m.Tag, desc, m.Payload); err != nil {
					return err
				}
			}
			m.PromotedManifest.New = !had
			copied = append(copied, m.PromotedManifest)
		}
		if t.tag != "" {
			top := closure[0]
			for _, m := range closure {
				if m.Digest == t.digest {
					top = m
				}
			}
			desc := oci.Descriptor{MediaType: top.MediaType, Digest: top.Digest, Size: int64(len(top.Payload))}
			return rm.Client.PutManifest(ctx, t.targetRepo, t.tag, desc, top.Payload)
		}
		return nil
	}()
	rec.Copied, _ = json.Marshal(copied)
	rec.Result = meta.PromotionPromoted
	if copyErr != nil {
		rec.Result = meta.PromotionFailed
		rec.Reason = "copy to " + rm.URL + ": " + remote.Reason(copyErr)
	}
	err = s.opts.Store.Update(ctx, func(tx meta.Tx) error {
		ptx, ok := tx.(meta.PromotionTx)
		if !ok {
			return fmt.Errorf("the metadata store cannot record promotions")
		}
		id, err := ptx.AppendPromotionRecord(ctx, rec)
		if err != nil {
			return err
		}
		rec.ID = id
		if copyErr != nil {
			return nil // refused: its access.denied is an observation
		}
		if requestID != 0 {
			if err := ptx.ClosePromotionRequest(ctx, requestID, meta.RequestPromoted, id); err != nil {
				return err
			}
		}
		// The record of the copy and its artifact.promoted event commit
		// together.
		promoted := &events.ArtifactPromoted{Digest: t.digest, From: t.sourceRepo, Remote: t.req.Remote}
		if t.tag != "" {
			promoted.Tags = []string{t.tag}
		}
		return events.Append(ctx, tx, callerEvent(ctx, c, t.targetRepo, promoted))
	})
	if err != nil {
		return Result{}, fmt.Errorf("record the promotion: %w", err)
	}
	res.Record = recordOf(rec)
	res.Copied = copied
	if copyErr != nil {
		res.State = StateFailed
		s.refused(ctx, c, t, apierr.Unavailable, rec.Reason)
		return res, &apierr.Error{Code: apierr.Unavailable, Message: fmt.Sprintf("promotion to %s failed (record %d): %s", t.req.Remote, rec.ID, remote.Reason(copyErr)), Err: copyErr}
	}
	res.State = StatePromoted
	return res, nil
}

// pushBlobs sends the blobs the remote repository lacks, streaming each
// from the content store.
func (s *Service) pushBlobs(ctx context.Context, cl *remote.Client, src, dst string, blobs []digest.Digest) error {
	for _, d := range blobs {
		ok, err := cl.BlobExists(ctx, dst, d)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		rc, b, err := s.opts.Registry.OpenBlob(ctx, src, d)
		if err != nil {
			return fmt.Errorf("read blob %s: %w", d, err)
		}
		err = cl.PutBlob(ctx, dst, oci.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: b.Size}, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
