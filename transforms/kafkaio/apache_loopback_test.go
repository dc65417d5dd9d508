package kafkaio_test

import (
	"testing"

	"github.com/trialflow/trialflow/internal/listeners"
)

// TestApacheKafkaListensOnLoopbackOnly (TRIALFLOW_KAFKA=apache): every
// socket the Apache Kafka broker's JVM listens on (broker and controller
// listeners, and anything else it opens) is on loopback (issue 18's rule).
func TestApacheKafkaListensOnLoopbackOnly(t *testing.T) {
	if !apacheEnabled() {
		t.Skip("TRIALFLOW_KAFKA=apache not set")
	}
	apacheBroker(t)
	pid := apache.b.Pid()
	ls, err := listeners.Of(pid)
	if err == listeners.ErrUnsupported {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("listening sockets of the broker (pid %d): %v", pid, ls)
	if len(ls) < 2 { // the PLAINTEXT and CONTROLLER listeners
		t.Fatalf("saw only %v", ls)
	}
	if bad := listeners.NonLoopback(ls); len(bad) > 0 {
		t.Fatalf("the broker listens beyond loopback: %v (all: %v)", bad, ls)
	}
}
