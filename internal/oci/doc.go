// Package oci holds the leaf vocabulary of the registry: repository names, tags,
// digests, media types, manifest parsing and validation, and the Content-Range
// grammar of chunked uploads. It imports nothing from the rest of wharf.
package oci
