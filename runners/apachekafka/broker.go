package apachekafka

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

// DefaultVersion is the Apache Kafka release started.
const DefaultVersion = "4.1.1"

// Config says which broker to start and how.
type Config struct {
	Version string    // default DefaultVersion
	Heap    string    // JVM -Xmx; default "512m"
	Dir     string    // data, config and log; default a new temp dir
	Log     io.Writer // progress notices; nil discards
	// Partitions is num.partitions for auto-created topics; default 1.
	Partitions int
}

// Broker is a running broker.
type Broker struct {
	Addr   string // bootstrap address, 127.0.0.1:port
	Dir    string
	proc   *jvm.Process
	ownDir bool
}

func (c *Config) defaults() {
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.Heap == "" {
		c.Heap = "512m"
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Partitions <= 0 {
		c.Partitions = 1
	}
}

// Artifacts are the Maven coordinates of the broker's classpath.
func (c Config) Artifacts() []jvm.Artifact {
	c.defaults()
	return []jvm.Artifact{
		{Group: "org.apache.kafka", Name: "kafka_2.13", Version: c.Version},
		{Group: "org.slf4j", Name: "slf4j-simple", Version: "1.7.36"},
	}
}

// IsUnavailable reports whether err means java or mvn is missing.
func IsUnavailable(err error) bool { return errors.Is(err, jvm.ErrMissingTool) }

// Start fetches the broker's jars, formats a fresh log dir and starts the
// broker, waiting until it accepts connections. Stop ends it.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	cfg.defaults()
	fmt.Fprintf(cfg.Log, "resolving Apache Kafka %s with mvn (cached in ~/.m2)\n", cfg.Version)
	cp, err := jvm.Classpath(ctx, cfg.Artifacts(), nil)
	if err != nil {
		return nil, fmt.Errorf("apachekafka: %w", err)
	}
	b := &Broker{Dir: cfg.Dir}
	if b.Dir == "" {
		if b.Dir, err = os.MkdirTemp("", "trialflow-kafka-"); err != nil {
			return nil, fmt.Errorf("apachekafka: %w", err)
		}
		b.ownDir = true
	}
	port, err := jvm.FreePort()
	if err != nil {
		return nil, err
	}
	cport, err := jvm.FreePort()
	if err != nil {
		return nil, err
	}
	props := filepath.Join(b.Dir, "server.properties")
	if err := os.WriteFile(props, []byte(serverProperties(port, cport, filepath.Join(b.Dir, "data"), cfg.Partitions)), 0o644); err != nil {
		return nil, fmt.Errorf("apachekafka: %w", err)
	}
	jvmArgs := []string{"-Xmx" + cfg.Heap, "-Xms" + cfg.Heap, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info"}
	// kafka-storage.sh format: a fixed cluster id is fine for a throwaway node.
	format, err := jvm.Start(cp, jvmArgs, "kafka.tools.StorageTool",
		[]string{"format", "-t", "dHJpYWxmbG93LWthZmthMQ", "-c", props}, b.Dir, filepath.Join(b.Dir, "format.log"))
	if err != nil {
		return nil, fmt.Errorf("apachekafka: %w", err)
	}
	select {
	case <-format.Exited:
	case <-ctx.Done():
		format.Stop(time.Second)
		return nil, ctx.Err()
	}
	if _, err := os.Stat(filepath.Join(b.Dir, "data", "meta.properties")); err != nil {
		b.cleanup()
		return nil, fmt.Errorf("apachekafka: storage format failed:\n%s", jvm.LogTail(filepath.Join(b.Dir, "format.log")))
	}
	fmt.Fprintf(cfg.Log, "starting Apache Kafka %s (log %s)\n", cfg.Version, filepath.Join(b.Dir, "kafka.log"))
	b.proc, err = jvm.Start(cp, jvmArgs, "kafka.Kafka", []string{props}, b.Dir, filepath.Join(b.Dir, "kafka.log"))
	if err != nil {
		b.cleanup()
		return nil, fmt.Errorf("apachekafka: %w", err)
	}
	b.Addr = "127.0.0.1:" + strconv.Itoa(port)
	if err := jvm.WaitTCP(ctx, b.Addr, 3*time.Minute, b.proc.Exited); err != nil {
		log := b.Log()
		b.Stop()
		return nil, fmt.Errorf("apachekafka: broker did not come up: %w\n%s", err, log)
	}
	fmt.Fprintf(cfg.Log, "Apache Kafka %s ready at %s\n", cfg.Version, b.Addr)
	return b, nil
}

// Pid is the broker's java process id.
func (b *Broker) Pid() int { return b.proc.Pid() }

// Log returns the end of the broker's log, for test failures.
func (b *Broker) Log() string { return jvm.LogTail(filepath.Join(b.Dir, "kafka.log")) }

// Stop ends the broker and removes its temp dir if Start made it.
func (b *Broker) Stop() {
	if b.proc != nil {
		b.proc.Stop(15 * time.Second)
	}
	b.cleanup()
}

func (b *Broker) cleanup() {
	if b.ownDir {
		_ = os.RemoveAll(b.Dir)
	}
}

func serverProperties(port, cport int, dataDir string, partitions int) string {
	return strings.Join([]string{
		"# Written by trialflow runners/apachekafka: one KRaft node on loopback.",
		"process.roles=broker,controller",
		"node.id=1",
		fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", cport),
		fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", port, cport),
		fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", port),
		"controller.listener.names=CONTROLLER",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name=PLAINTEXT",
		"log.dirs=" + dataDir,
		"num.partitions=" + strconv.Itoa(partitions),
		// No time-based retention: tests write records with fixed
		// timestamps years in the past, which the default 7 days
		// (log.retention.hours=168) deletes at the next retention check
		// (every 5 minutes), so a bounded read found its range gone.
		// kfake never deletes by time either.
		"log.retention.ms=-1",
		"offsets.topic.replication.factor=1",
		"offsets.topic.num.partitions=4",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"transaction.state.log.num.partitions=4",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		"group.initial.rebalance.delay.ms=0",
		"auto.create.topics.enable=true",
		"num.network.threads=2",
		"num.io.threads=2",
		"",
	}, "\n")
}
