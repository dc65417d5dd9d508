package runners_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"

	"github.com/trialflow/trialflow/internal/listeners"
	"github.com/trialflow/trialflow/runners"
)

var (
	seenMu sync.Mutex
	seen   []netip.AddrPort
)

func init() { register.Function1x1(recordListeners) }

// recordListeners runs inside the pipeline, so it sees the job server, the
// web UI and the loopback worker while they serve.
func recordListeners(x int) int {
	ls, err := listeners.Of(os.Getpid())
	if err == nil {
		seenMu.Lock()
		seen = append(seen, ls...)
		seenMu.Unlock()
	}
	return x
}

func TestPrismListensOnLoopbackOnly(t *testing.T) {
	if _, err := listeners.Of(os.Getpid()); err == listeners.ErrUnsupported {
		t.Skip(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	passert.Sum(s, beam.ParDo(s, recordListeners, beam.Create(s, 1, 2, 3)), "sum", 3, 6)
	saved := *jobopts.Endpoint
	defer func() { *jobopts.Endpoint = saved }()
	var log bytes.Buffer
	if _, err := runners.Run(ctx, p, runners.WithRunner("prism"), runners.WithLog(&log)); err != nil {
		t.Fatal(err)
	}
	seenMu.Lock()
	defer seenMu.Unlock()
	if len(seen) < 2 { // at least the job server and the web UI
		t.Fatalf("listening sockets during the run: %v", seen)
	}
	if bad := listeners.NonLoopback(seen); len(bad) > 0 {
		t.Fatalf("listening beyond loopback during a Prism run: %v (all: %v)", bad, seen)
	}
}
