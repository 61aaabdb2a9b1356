package sqlite

import (
	"testing"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/metatest"
)

func TestGC(t *testing.T) {
	metatest.RunGC(t, func(t *testing.T) meta.Store { return openTest(t, Options{}) })
}
