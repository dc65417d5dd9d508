package flink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trialflow/trialflow/internal/jvm"
)

const (
	// DefaultBeamVersion is the Beam Java release whose Flink runner is
	// used. The Go SDK is v2.77.0; 2.77.0's Java runner artifacts are not
	// served, and 2.62.0 is the newest beam-runners-flink-1.19 whose
	// dependencies all resolve (docs/runners.md).
	DefaultBeamVersion = "2.62.0"
	// DefaultFlinkVersion is the Flink minor version of the runner artifact.
	DefaultFlinkVersion = "1.19"
	// MainClass is the job server's entry point.
	MainClass = "org.apache.beam.runners.flink.FlinkJobServerDriver"
)

// Config says which job server to start and how.
type Config struct {
	BeamVersion  string    // default DefaultBeamVersion
	FlinkVersion string    // default DefaultFlinkVersion
	Parallelism  int       // Flink's parallelism.default; default 1
	Slots        int       // task slots of the embedded task manager; default 2 (2 cores)
	Heap         string    // JVM -Xmx; default "2g"
	Dir          string    // working dir for conf and log; default a new temp dir
	JobPort      int       // default a free port
	Log          io.Writer // progress notices; nil discards
}

func (c *Config) defaults() {
	if c.BeamVersion == "" {
		c.BeamVersion = DefaultBeamVersion
	}
	if c.FlinkVersion == "" {
		c.FlinkVersion = DefaultFlinkVersion
	}
	if c.Parallelism <= 0 {
		c.Parallelism = 1
	}
	if c.Slots <= 0 {
		c.Slots = 2
	}
	if c.Slots < c.Parallelism {
		c.Slots = c.Parallelism
	}
	if c.Heap == "" {
		c.Heap = "2g"
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Artifacts are the Maven coordinates of the job server's classpath.
func (c Config) Artifacts() []jvm.Artifact {
	c.defaults()
	return []jvm.Artifact{
		{Group: "org.apache.beam", Name: "beam-runners-flink-" + c.FlinkVersion, Version: c.BeamVersion},
		// The runner logs through SLF4J; without a binding its errors vanish.
		{Group: "org.slf4j", Name: "slf4j-simple", Version: "1.7.30"},
	}
}

// Server is a running job server.
type Server struct {
	Endpoint string // host:port of the Job API
	Dir      string // conf and job-server.log
	Config   Config
	proc     *jvm.Process
	ownDir   bool
}

// Fetch resolves the job server's classpath (downloading through mvn into
// ~/.m2 the first time) and returns it.
func Fetch(ctx context.Context, cfg Config) (string, error) {
	cfg.defaults()
	fmt.Fprintf(cfg.Log, "resolving Beam %s Flink %s job server with mvn (cached in ~/.m2)\n", cfg.BeamVersion, cfg.FlinkVersion)
	cp, err := jvm.Classpath(ctx, cfg.Artifacts(), nil)
	if err != nil {
		return "", fmt.Errorf("flink: %w", err)
	}
	return cp, nil
}

// Start fetches and starts the job server and waits until its Job API
// accepts connections. Stop ends it.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg.defaults()
	cp, err := Fetch(ctx, cfg)
	if err != nil {
		return nil, err
	}
	overlay, err := loopbackOverlay(ctx, cp)
	if err != nil {
		return nil, err
	}
	cp = overlay + string(os.PathListSeparator) + cp
	s := &Server{Config: cfg, Dir: cfg.Dir}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "trialflow-flink-"); err != nil {
			return nil, fmt.Errorf("flink: %w", err)
		}
		s.ownDir = true
	}
	confDir := filepath.Join(s.Dir, "conf")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return nil, fmt.Errorf("flink: %w", err)
	}
	if err := os.WriteFile(filepath.Join(confDir, "flink-conf.yaml"), []byte(flinkConf(cfg)), 0o644); err != nil {
		return nil, fmt.Errorf("flink: %w", err)
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = jvm.FreePort(); err != nil {
			return nil, err
		}
	}
	if cfg.JobPort > 0 {
		ports[0] = cfg.JobPort
	}
	args := []string{
		"--flink-master=[local]",
		"--flink-conf-dir=" + confDir,
		"--job-host=127.0.0.1",
		"--job-port=" + strconv.Itoa(ports[0]),
		"--artifact-port=" + strconv.Itoa(ports[1]),
		"--expansion-port=" + strconv.Itoa(ports[2]),
		"--artifacts-dir=" + filepath.Join(s.Dir, "artifacts"),
	}
	jvmArgs := []string{"-Xmx" + cfg.Heap, "-XX:+UseSerialGC",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dorg.slf4j.simpleLogger.log.org.apache.beam.runners.jobsubmission=info",
		// Flink 1.19 on Java 17 needs these opened (as flink's own scripts do).
		"--add-opens=java.base/java.util=ALL-UNNAMED",
		"--add-opens=java.base/java.lang=ALL-UNNAMED",
		"--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
		"--add-opens=java.base/java.io=ALL-UNNAMED",
		"--add-opens=java.base/java.net=ALL-UNNAMED",
		"--add-opens=java.base/java.nio=ALL-UNNAMED",
		"--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
		"--add-opens=java.base/java.time=ALL-UNNAMED",
		"--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
		"--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
	}
	log := filepath.Join(s.Dir, "job-server.log")
	fmt.Fprintf(cfg.Log, "starting Flink job server (log %s)\n", log)
	s.proc, err = jvm.Start(cp, jvmArgs, MainClass, args, s.Dir, log)
	if err != nil {
		return nil, fmt.Errorf("flink: %w", err)
	}
	s.Endpoint = "127.0.0.1:" + strconv.Itoa(ports[0])
	if err := jvm.WaitTCP(ctx, s.Endpoint, 3*time.Minute, s.proc.Exited); err != nil {
		s.Stop()
		return nil, fmt.Errorf("flink: job server did not come up: %w\n%s", err, jvm.LogTail(log))
	}
	fmt.Fprintf(cfg.Log, "Flink job server ready at %s (parallelism %d)\n", s.Endpoint, cfg.Parallelism)
	return s, nil
}

// Pid is the job server's java process id.
func (s *Server) Pid() int { return s.proc.Pid() }

// Exited is closed when the job server process ends.
func (s *Server) Exited() <-chan struct{} { return s.proc.Exited }

// Log returns the end of the job server's log, for test failures.
func (s *Server) Log() string { return jvm.LogTail(filepath.Join(s.Dir, "job-server.log")) }

// Stop ends the job server and removes its temp dir if Start made it.
func (s *Server) Stop() {
	if s.proc != nil {
		s.proc.Stop(10 * time.Second)
	}
	if s.ownDir {
		_ = os.RemoveAll(s.Dir)
	}
}

func flinkConf(c Config) string {
	return strings.Join([]string{
		"# Written by trialflow runners/flink: an embedded Flink for a 2-core machine.",
		"parallelism.default: " + strconv.Itoa(c.Parallelism),
		"taskmanager.numberOfTaskSlots: " + strconv.Itoa(c.Slots),
		"taskmanager.memory.network.min: 64mb",
		"taskmanager.memory.network.max: 64mb",
		"taskmanager.memory.managed.size: 128mb",
		"rest.bind-address: 127.0.0.1",
		"rest.address: 127.0.0.1",
		"jobmanager.bind-host: 127.0.0.1",
		"taskmanager.bind-host: 127.0.0.1",
		"taskmanager.host: 127.0.0.1",
		"",
	}, "\n")
}

// ErrUnavailable wraps the reason a job server cannot be started here
// (java or mvn missing).
var ErrUnavailable = jvm.ErrMissingTool

// IsUnavailable reports whether err means java or mvn is missing.
func IsUnavailable(err error) bool { return errors.Is(err, jvm.ErrMissingTool) }
