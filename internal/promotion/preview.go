package promotion

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Preview is what a promotion would meet, evaluated and not run: the
// source's digest and every gate with its result and evidence.
type Preview struct {
	Digest digest.Digest `json:"digest"`
	Gates  []GateResult  `json:"gates"`
}

// Preview checks that c may make promotion req and evaluates its gates
// (with the approvals a pending request of the same promotion holds), as
// [Service.Promote] would, but promotes nothing, records nothing and
// creates no request: what the web UI shows before a person confirms.
func (s *Service) Preview(ctx context.Context, c access.Caller, req Request) (Preview, error) {
	t, err := s.parse(req)
	if err != nil {
		return Preview{}, err
	}
	if err := s.authorize(ctx, c, t); err != nil {
		return Preview{}, err
	}
	if err := s.resolve(ctx, t); err != nil {
		return Preview{}, err
	}
	pending, err := s.opts.Store.PendingPromotionRequest(ctx, t.sourceRepo, t.digest, t.targetRepo, t.tag, t.req.Remote)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return Preview{}, fmt.Errorf("read pending requests: %w", err)
	}
	gates, err := s.gates(ctx, t, person(c), pending.Approvals)
	if err != nil {
		return Preview{}, err
	}
	return Preview{Digest: t.digest, Gates: gates}, nil
}

// Remotes lists the names of the configured remote registries, sorted.
func (s *Service) Remotes() []string {
	out := make([]string, 0, len(s.opts.Remotes))
	for name := range s.opts.Remotes {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
