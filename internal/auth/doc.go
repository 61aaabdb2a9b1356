// Package auth is the pure core of wharf's access control: who a caller is
// ([Principal]), what a [Role] in a namespace lets them do, what a token's or
// robot's [ScopeSet] narrows that to, and [Decide], which joins them into a
// [Decision]. Around that core it holds what the Docker token flow needs:
// resource scopes ([ParseResourceScopes], [Grant]), signed bearer tokens
// ([Issuer], [Verifier], keys from [GenerateKey]), secrets (bcrypt
// passwords, opaque access and refresh tokens, htpasswd import), the
// WWW-Authenticate and Authorization headers, and a brute-force [Limiter].
//
// Nothing here does I/O: callers look up users, roles, namespaces and keys
// in the metadata store and pass them in, and pass the current time in too,
// so every rule is a function a table test can pin down.
package auth
