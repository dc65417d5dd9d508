package local_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func TestMain(m *testing.M) {
	ptest.MainWithDefault(m, "prism")
}

// TestKcatInterop has a Kafka client that is not ours, Debian's kcat
// (librdkafka), produce keyed records with headers to the local stack;
// kafkaio.Read copies them on Prism through kafkaio.Write, and kcat
// consumes the copy with keys, headers and values intact.
func TestKcatInterop(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not on PATH: install it (apt-get install kcat; .ci/run does) to run the interoperability test")
	}
	s, err := local.Start(context.Background(), local.Options{Topics: []string{"in", "out"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	broker := strings.Join(s.Bootstrap(), ",")

	var input bytes.Buffer
	var want []string
	for i := range 50 {
		fmt.Fprintf(&input, "k%02d:value %02d\n", i, i)
		want = append(want, fmt.Sprintf("k%02d|value %02d|origin=kcat", i, i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := exec.CommandContext(ctx, kcat, "-b", broker, "-t", "in", "-P", "-K:", "-H", "origin=kcat")
	prod.Stdin = &input
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}

	p, sc := beam.NewPipelineWithRoot()
	recs := kafkaio.Read(sc, s.Bootstrap(), []string{"in"})
	kafkaio.Write(sc, s.Bootstrap(), beam.ParDo(sc, clearTopic, recs), kafkaio.ToTopic("out"))
	ptest.RunAndValidate(t, p)

	cons := exec.CommandContext(ctx, kcat, "-b", broker, "-t", "out", "-C", "-e", "-o", "beginning",
		"-f", "%k|%s|%h\n")
	var stderr bytes.Buffer
	cons.Stderr = &stderr
	out, err := cons.Output()
	if err != nil {
		t.Fatalf("kcat consume: %v\n%s", err, stderr.String())
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("kcat read back %d records, want %d:\n got %q\nwant %q", len(got), len(want), got[:min(3, len(got))], want[:3])
	}
}

func clearTopic(r kafkaio.Record) kafkaio.Record {
	r.Topic = ""
	return r
}

func init() {
	register.Function1x1(clearTopic)
}
