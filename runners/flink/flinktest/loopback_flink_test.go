//go:build flink

package flinktest_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/internal/listeners"
	"github.com/trialflow/trialflow/runners/flink/flinktest"
)

var sockets struct {
	sync.Mutex
	seen map[netip.AddrPort]bool
	err  error
}

// sampleListenersFn runs in this process (LOOPBACK) while the job runs on
// the embedded Flink, so it sees the mini cluster's and the Fn API's
// sockets as well as the job server's.
type sampleListenersFn struct {
	Pid int
}

func (f *sampleListenersFn) ProcessElement(x int) int {
	time.Sleep(20 * time.Millisecond)
	record(f.Pid)
	return x
}

func record(pid int) {
	ls, err := listeners.Of(pid)
	sockets.Lock()
	defer sockets.Unlock()
	if err != nil {
		sockets.err = err
		return
	}
	if sockets.seen == nil {
		sockets.seen = map[netip.AddrPort]bool{}
	}
	for _, a := range ls {
		sockets.seen[a] = true
	}
}

func init() { register.DoFn1x1[int, int](&sampleListenersFn{}) }

// TestJobServerListensOnLoopbackOnly: every socket the job server's JVM
// listens on, idle and while a job runs on its embedded Flink (Job API,
// artifact and expansion services, the Flink mini cluster, the Fn API
// servers of the job's SDK worker), is on loopback (issue 18's rule).
func TestJobServerListensOnLoopbackOnly(t *testing.T) {
	pid := flinktest.Pid(t)
	if _, err := listeners.Of(pid); err == listeners.ErrUnsupported {
		t.Skip(err)
	}
	record(pid)
	p, s := beam.NewPipelineWithRoot()
	xs := make([]int, 50)
	for i := range xs {
		xs[i] = i
	}
	beam.ParDo(s, &sampleListenersFn{Pid: pid}, beam.CreateList(s, xs))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := flinktest.RunFlink(ctx, t, p); err != nil {
		t.Fatalf("flink run: %v\n%s", err, flinktest.JobServerLog())
	}
	sockets.Lock()
	defer sockets.Unlock()
	if sockets.err != nil {
		t.Fatal(sockets.err)
	}
	var all []netip.AddrPort
	for a := range sockets.seen {
		all = append(all, a)
	}
	t.Logf("listening sockets of the job server (pid %d), idle and during a job: %v", pid, all)
	if len(all) < 3 { // Job API, artifact and expansion services at least
		t.Fatalf("saw only %v", all)
	}
	if bad := listeners.NonLoopback(all); len(bad) > 0 {
		t.Fatalf("the job server's JVM listens beyond loopback: %v (all: %v)", bad, all)
	}
}
