package apierr

import "net/http"

// Codes of the lifecycle management operations (immutability rules,
// retention policies, quotas), written as problem JSON on /api/v1. A push
// refused by a rule or a quota is DENIED, an OCI code, on /v2.
var (
	PolicyInvalid  = Code{"POLICY_INVALID", http.StatusBadRequest, "invalid rule, policy or quota"}
	PolicyUnknown  = Code{"POLICY_UNKNOWN", http.StatusNotFound, "no such rule, policy or quota"}
	PolicyConflict = Code{"POLICY_CONFLICT", http.StatusConflict, "the rule exists already"}
)
