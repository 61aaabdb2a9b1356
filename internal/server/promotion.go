package server

import (
	"fmt"
	"os"
	"strings"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/promotion"
	"github.com/wharf-dev/wharf/internal/remote"
)

// newPromotion builds the network rules, with access control, and the
// promotion service over the registry, the access
// service (or the local administrator's) and the configured remotes; nil
// when the metadata store keeps no promotions.
func (s *Server) newPromotion() (*promotion.Service, error) {
	if ns, ok := s.meta.(access.NetworkStore); ok && s.access != nil {
		pull, _ := access.ParsePrefixes(s.cfg.Network.Pull) // validated
		push, _ := access.ParsePrefixes(s.cfg.Network.Push)
		s.network = access.NewNetwork(access.NetworkOptions{Store: ns, Pull: pull, Push: push})
	}
	store, ok := s.meta.(promotion.Store)
	if !ok {
		return nil, nil
	}
	acc := s.access
	if acc == nil {
		acc = s.local
	}
	if acc == nil {
		return nil, nil
	}
	remotes := map[string]promotion.Remote{}
	for _, r := range s.cfg.Promotion.Remotes {
		password := r.Password
		if r.PasswordFile != "" {
			b, err := os.ReadFile(r.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("promotion.remotes %s: passwordFile: %w", r.Name, err)
			}
			password = strings.TrimSpace(string(b))
		}
		cl, err := remote.New(remote.Options{URL: r.URL, Username: r.Username, Password: password, CAFile: r.CAFile,
			UserAgent: "wharf-promotion", Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("promotion.remotes %s: %w", r.Name, err)
		}
		remotes[r.Name] = promotion.Remote{URL: r.URL, Client: cl, Policy: r.Policy}
	}
	o := promotion.Options{Registry: s.registry, Store: store, Access: acc, Network: s.network, Remotes: remotes, Logger: s.log,
		Signatures: promotion.RegistrySignatures{Registry: s.registry}}
	if s.scanner != nil {
		o.Scans = promotion.ScannerScans{Scanner: s.scanner}
	}
	return promotion.New(o), nil
}
