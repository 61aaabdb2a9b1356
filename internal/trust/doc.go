// Package trust verifies the signatures of an image stored in the registry:
// cosign signatures in both forms clients write (the sha256-<hex>.sig tag
// schema with simple-signing payloads, and OCI 1.1 referrers: cosign's
// referrer form of that layout and sigstore bundles) and notation signatures
// (JWS and COSE envelopes), against a [KeySet]: the public keys, keyless
// identities (verified offline against a sigstore trusted root) and notation
// trust policies a namespace trusts.
//
// The package reads the registry only through [Source], so it depends on no
// store. [Verifier.Verify] returns one [SignatureResult] per signature found:
// who signed (which key or identity) or exactly why the signature does not
// count, as an error wrapping one of the Err* reasons below. Nothing here
// touches the network: transparency-log entries, timestamps and certificate
// chains are checked against the key set's trusted material alone.
package trust
