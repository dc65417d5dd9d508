// Package faulttest is the harness of trialflow's fault tests: it runs the
// real `trialflow` binary as a child process against a Kafka cluster and a
// Schema Registry that live in the test process (so they outlive a killed
// job), breaks things on purpose, and checks what reached approved_patients.
//
//   - Stack: a kfake cluster whose listener can drop every connection and
//     refuse new ones for a while (a broker outage), and a durable registry
//     that can be stopped and restarted on the same port from its data dir.
//   - Feed: a synthetic data set (package synth) produced to one or more
//     stacks at once, each record when the wall clock reaches its event time
//     ("input keeps arriving"), remembering where every record landed.
//   - Proc: a child process in its own process group, SIGKILLed with its
//     whole tree on demand and when the test ends.
//   - Collapse, DoubleNews, Diff: approved_patients collapsed per key and
//     compared with an uninterrupted run; CommitAhead: offsets committed
//     for input whose outputs are not in Kafka yet.
//   - WaitCaughtUp: a job is caught up when the consumer group's committed
//     offsets reach the input's end offsets and approved_patients has been
//     quiet for a while.
//
// It is test support only: nothing outside _test files imports it.
package faulttest
