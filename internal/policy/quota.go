package policy

import (
	"errors"
	"fmt"
)

// QuotaError is a write refused because it would take a namespace past its
// quota.
type QuotaError struct {
	Namespace string
	Limit     int64 // the quota, bytes
	Used      int64 // bytes the namespace holds now
	Adding    int64 // bytes the refused write would add
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("namespace %s is over its storage quota: %d bytes used of %d, and this adds %d",
		e.Namespace, e.Used, e.Limit, e.Adding)
}

// CheckQuota returns a *QuotaError if adding bytes to a namespace that
// holds used bytes would exceed limit. Adding nothing never fails, so a
// namespace already over a lowered quota can still re-push what it holds.
func CheckQuota(namespace string, limit, used, adding int64) error {
	if adding <= 0 || used+adding <= limit {
		return nil
	}
	return &QuotaError{Namespace: namespace, Limit: limit, Used: used, Adding: adding}
}

// ValidateQuota reports what is wrong with a quota of limit bytes for
// namespace.
func ValidateQuota(namespace string, limit int64) error {
	var errs []error
	if err := validateNamespace(namespace); err != nil {
		errs = append(errs, fmt.Errorf("namespace: %w", err))
	}
	if limit < 0 {
		errs = append(errs, fmt.Errorf("limitBytes: must not be negative, got %d", limit))
	}
	return errors.Join(errs...)
}
