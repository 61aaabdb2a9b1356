package server

import "github.com/wharf-dev/wharf/internal/scanner"

// Scanner exposes the server's scanner to the UI's tests, which load
// vulnerability data into it and wait for scans; nil unless scanning is
// enabled.
func (s *Server) Scanner() *scanner.Service { return s.scanner }
