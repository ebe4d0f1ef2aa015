//go:build !unix

package main

// lockDataDir is not available here: callers fall back to probing nats.url.
func lockDataDir(string) (func(), error) { return nil, errLockUnsupported }
