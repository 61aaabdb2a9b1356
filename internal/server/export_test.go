package server

import (
	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
)

// ContentStore and MetaStore expose the server's stores to its tests, which
// check what garbage collection left in them.
func (s *Server) ContentStore() content.Store { return s.content }
func (s *Server) MetaStore() meta.Store       { return s.meta }
