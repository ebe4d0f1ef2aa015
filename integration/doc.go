// Package integration holds tuplebroker's end-to-end tests: the real
// binary, as separate OS processes (factories, agents, manager nodes) on a
// real NATS JetStream server, driven over HTTP as users drive it.
package integration
