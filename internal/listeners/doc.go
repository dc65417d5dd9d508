// Package listeners lists the TCP sockets a process is listening on, from
// Linux's /proc, so tests can check that nothing trialflow starts listens
// beyond loopback.
package listeners
