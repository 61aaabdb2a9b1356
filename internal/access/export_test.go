package access

import "github.com/wharf-dev/wharf/internal/auth"

// SetPasswordCompare makes s compare passwords with compare, which tests
// use to count the bcrypt work of each login.
func SetPasswordCompare(s *Service, compare func(hash, password []byte) error) {
	v, err := auth.NewPasswordVerifier(s.opts.BcryptCost, compare)
	if err != nil {
		panic(err)
	}
	s.verifier = v
}
