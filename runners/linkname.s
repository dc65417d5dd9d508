// This file lets prism_loopback.go declare functions without bodies that
// go:linkname binds to Prism's internal job server.
