package trialmatch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/trialmatch/digest"
	"github.com/trialflow/trialflow/pipelines/trialmatch/history"
)

func init() {
	register.DoFn2x1[context.Context, digest.Digest, error](&writeDigestFn{})
}

// SinkConfig says where the file sinks write. Empty directories switch a
// sink off.
type SinkConfig struct {
	// HistoryDir receives every approved_patients record as Parquet,
	// partitioned by tenant and date (package history).
	HistoryDir string
	// DigestDir receives one JSON file per tenant and digest window
	// (DigestDir/tenant=T/START.json).
	DigestDir string
	// DigestWindow is the tumbling event-time window of the digests
	// (default one hour).
	DigestWindow time.Duration
}

// Sinks adds the file sinks to the pipeline's matches: Parquet history and
// per-tenant digests. It returns the digests (PCollection<digest.Digest>).
func Sinks(s beam.Scope, out Outputs, cfg SinkConfig) beam.PCollection {
	s = s.Scope("trialmatch.Sinks")
	if cfg.DigestWindow <= 0 {
		cfg.DigestWindow = time.Hour
	}
	if cfg.HistoryDir != "" {
		history.Write(s, cfg.HistoryDir, out.Matches)
	}
	var digests beam.PCollection
	if out.Execution == Batch || out.Execution == CoPartitioned {
		digests = digest.Grouped(s, out.Matches, digest.Window(cfg.DigestWindow))
	} else {
		digests = digest.Tumbling(s, out.Matches, digest.Window(cfg.DigestWindow))
	}
	if cfg.DigestDir != "" {
		beam.ParDo0(s, &writeDigestFn{Dir: cfg.DigestDir}, digests)
	}
	return digests
}

// writeDigestFn writes each digest to its own file, named by tenant and
// window start, through a temporary file and a rename: a re-fired pane or a
// retried bundle rewrites the same name.
type writeDigestFn struct{ Dir string }

func (f *writeDigestFn) ProcessElement(ctx context.Context, d digest.Digest) error {
	dir := filepath.Join(f.Dir, "tenant="+url.PathEscape(d.Tenant))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("trialmatch: digest directory: %w", err)
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("trialmatch: encode digest: %w", err)
	}
	name := filepath.Join(dir, d.WindowStart.UTC().Format("2006-01-02T15-04-05Z")+".json")
	tmp, err := os.CreateTemp(dir, ".digest-*")
	if err != nil {
		return fmt.Errorf("trialmatch: digest: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("trialmatch: write digest: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("trialmatch: write digest: %w", err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("trialmatch: write digest: %w", err)
	}
	return nil
}
