// Package policy holds wharf's lifecycle rules as pure functions and types:
// tag patterns, immutability rules, retention policies and their evaluation
// into a [Plan], and quota checks. Nothing here does I/O: the registry
// service reads metadata, asks this package what the rules say, and acts.
package policy
