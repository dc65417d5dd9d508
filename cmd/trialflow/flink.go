package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/trialflow/trialflow/runners/flink"
)

func init() {
	register(command{
		name:    "flink up",
		summary: "start Beam's Flink job server with an embedded Flink on loopback (needs java and mvn)",
		run:     flinkUp,
	})
}

func flinkUp(ctx context.Context, fs *flag.FlagSet, args []string) error {
	port := fs.Int("port", 0, "Job API port on 127.0.0.1 (0: a free one)")
	parallelism := fs.Int("flink-parallelism", 1, "Flink's default parallelism (Beam's own --parallelism is another flag)")
	heap := fs.String("heap", "2g", "JVM maximum heap of the job server and its embedded Flink")
	beamVersion := fs.String("beam-version", flink.DefaultBeamVersion, "Beam release of the Java Flink runner")
	flinkVersion := fs.String("flink-version", flink.DefaultFlinkVersion, "Flink minor version of the runner artifact")
	dir := fs.String("dir", "", "directory for Flink's conf and the job server log (empty: a temp dir removed on exit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := flink.Start(ctx, flink.Config{
		BeamVersion: *beamVersion, FlinkVersion: *flinkVersion, Parallelism: *parallelism,
		Heap: *heap, Dir: *dir, JobPort: *port, Log: os.Stderr,
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	fmt.Printf("Flink job server on %s; submit with --runner=universal --endpoint=%s --environment_type=LOOPBACK; Ctrl-C to stop\n", s.Endpoint, s.Endpoint)
	select {
	case <-ctx.Done():
		fmt.Println("Flink job server stopping")
	case <-s.Exited():
		return fmt.Errorf("flink: job server exited:\n%s", s.Log())
	}
	return nil
}
