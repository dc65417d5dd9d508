// Command trialflow is the one trialflow binary: it runs the demo on the
// embedded default, serves the embedded Schema Registry, starts the local
// stack, and is also the Beam worker binary that runners launch (it calls
// beam.Init before doing anything else when started as a worker).
//
// Usage:
//
//	trialflow demo                         the embedded default (make demo)
//	trialflow registry serve --addr A --data DIR
//	trialflow stack up                     embedded Kafka + Schema Registry until interrupted
//	trialflow help
//
// Beam's own flags (--runner, --endpoint, --environment_type, ...) are
// accepted after the subcommand.
package main
