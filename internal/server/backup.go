package server

import "github.com/wharf-dev/wharf/internal/registry"

// Registry returns the registry service, for one-shot commands that work
// on the stores directly (wharf export, wharf import).
func (s *Server) Registry() *registry.Registry { return s.registry }
