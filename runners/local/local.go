package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
)

// Options configures Start. The zero value starts an in-memory stack on
// random loopback ports with every contract's topic (3 partitions) and no
// subjects registered.
type Options struct {
	// Brokers, when set, are the bootstrap addresses of a Kafka cluster
	// that is already running (Apache Kafka, Redpanda, ...): the stack
	// uses it instead of starting kfake, creates Topics on it explicitly
	// (a real broker need not auto-create them with the partitions
	// wanted) and leaves it running on Close. KafkaPort and the Kafka part
	// of DataDir do not apply; the registry is embedded as always.
	Brokers []string
	// KafkaPort is the broker's port on 127.0.0.1 (0: a free port).
	KafkaPort int
	// RegistryAddr is the registry's listen address (default
	// "127.0.0.1:0": a free port).
	RegistryAddr string
	// DataDir keeps Kafka logs and registry state under DataDir/kafka and
	// DataDir/registry across restarts; "" keeps everything in memory.
	DataDir string
	// Topics are created at start (default: every contract's topic).
	// Other topics are created on first use, with Partitions partitions,
	// by a client that asks the broker to (as Kafka's Java producer,
	// kafkaio.Write and so deadletter.Write do; a franz-go client needs
	// kgo.AllowAutoTopicCreation). Name a topic here or in
	// TopicPartitions for clients that do not ask.
	Topics []string
	// Partitions of each created topic (default 3).
	Partitions int32
	// TopicPartitions are more topics created at start, each with its
	// own partition count (`trialflow stack up --topic name:partitions`).
	TopicPartitions map[string]int32
	// RegisterContracts registers the value subject of every data
	// contract (schemas.All) on start.
	RegisterContracts bool
	// Registry configures the registry server (users, audit log, TLS).
	Registry []registry.ServerOption
	// RegistryAuth is how the stack registers the contracts when the
	// registry requires authentication (a user with the write role).
	RegistryAuth registry.Auth
}

// Stack is a running local Kafka cluster and Schema Registry.
type Stack struct {
	kafka  *kfake.Cluster // nil when the cluster is external
	ext    []string       // an external cluster's bootstrap addresses
	regURL string
	reg    io.Closer
	ids    map[string]int
	auth   registry.Auth
}

// Start starts the stack. Close stops it.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.Partitions <= 0 {
		o.Partitions = 3
	}
	if o.RegistryAddr == "" {
		o.RegistryAddr = "127.0.0.1:0"
	}
	if o.Topics == nil {
		for _, c := range schemas.All() {
			o.Topics = append(o.Topics, c.Topic)
		}
	}
	for t, n := range o.TopicPartitions {
		if n <= 0 {
			return nil, fmt.Errorf("local: topic %s: %d partitions, want 1 or more", t, n)
		}
	}
	regDir := ""
	if o.DataDir != "" {
		regDir = filepath.Join(o.DataDir, "registry")
	}
	var kc *kfake.Cluster
	if len(o.Brokers) > 0 {
		if err := createTopics(ctx, o.Brokers, o.Partitions, o.Topics); err != nil {
			return nil, err
		}
		for t, n := range o.TopicPartitions {
			if err := createTopics(ctx, o.Brokers, n, []string{t}); err != nil {
				return nil, err
			}
		}
	} else {
		kopts := []kfake.Opt{
			kfake.NumBrokers(1),
			kfake.AllowAutoTopicCreation(),
			kfake.DefaultNumPartitions(int(o.Partitions)),
			kfake.SeedTopics(o.Partitions, o.Topics...),
		}
		for t, n := range o.TopicPartitions {
			kopts = append(kopts, kfake.SeedTopics(n, t))
		}
		if o.KafkaPort != 0 {
			kopts = append(kopts, kfake.Ports(o.KafkaPort))
		}
		if o.DataDir != "" {
			kopts = append(kopts, kfake.DataDir(filepath.Join(o.DataDir, "kafka")))
		}
		var err error
		if kc, err = kfake.NewCluster(kopts...); err != nil {
			return nil, fmt.Errorf("local: start kafka: %w", err)
		}
	}
	url, reg, err := registry.StartServer(o.RegistryAddr, regDir, o.Registry...)
	if err != nil {
		if kc != nil {
			kc.Close()
		}
		return nil, fmt.Errorf("local: start schema registry: %w", err)
	}
	s := &Stack{kafka: kc, ext: o.Brokers, regURL: url, reg: reg, ids: map[string]int{}, auth: o.RegistryAuth}
	if o.RegisterContracts {
		if err := s.registerContracts(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Stack) registerContracts(ctx context.Context) error {
	cl, err := registry.NewClient(s.regURL, registry.WithAuth(s.auth))
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	for _, c := range schemas.All() {
		if err := ctx.Err(); err != nil {
			return err
		}
		id, err := cl.Register(c.ValueSubject(), c.Schema())
		if err != nil {
			return fmt.Errorf("local: register %s: %w", c.ValueSubject(), err)
		}
		s.ids[c.ValueSubject()] = id
	}
	return nil
}

// Bootstrap returns the Kafka bootstrap addresses (host:port).
func (s *Stack) Bootstrap() []string {
	if s.kafka == nil {
		return append([]string(nil), s.ext...)
	}
	return s.kafka.ListenAddrs()
}

// RegistryURL returns the Schema Registry's base URL.
func (s *Stack) RegistryURL() string { return s.regURL }

// SchemaIDs returns the ids of the subjects registered at start, by
// subject.
func (s *Stack) SchemaIDs() map[string]int {
	out := make(map[string]int, len(s.ids))
	for k, v := range s.ids {
		out[k] = v
	}
	return out
}

// Close stops the registry and the embedded Kafka cluster; an external
// cluster (Options.Brokers) keeps running.
func (s *Stack) Close() error {
	var err error
	if s.reg != nil {
		err = s.reg.Close()
	}
	if s.kafka != nil {
		s.kafka.Close()
	}
	return err
}

// createTopics creates topics with the given partitions (replication factor
// 1 when the cluster has a single broker, else the broker's default) on an
// external cluster, leaving existing ones as they are, and waits until the
// cluster's metadata lists every partition of each.
func createTopics(ctx context.Context, brokers []string, partitions int32, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("local: kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return fmt.Errorf("local: kafka at %s: %w", strings.Join(brokers, ","), err)
	}
	var rf int16 = -1
	if len(md.Brokers) == 1 {
		rf = 1
	}
	res, err := adm.CreateTopics(ctx, partitions, rf, nil, topics...)
	if err != nil {
		return fmt.Errorf("local: create topics: %w", err)
	}
	for _, r := range res.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("local: create topic %s: %w", r.Topic, r.Err)
		}
	}
	// A real broker's metadata lists a new topic's partitions shortly
	// after CreateTopics returns.
	for {
		listed, err := adm.ListTopics(ctx, topics...)
		ready := err == nil
		for _, t := range topics {
			d, ok := listed[t]
			ready = ready && ok && d.Err == nil && len(d.Partitions) > 0
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("local: topics %v not listed: %w", topics, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Run starts the stack, writes its addresses to w and runs until ctx is
// cancelled (for `trialflow stack up`).
func Run(ctx context.Context, w io.Writer, o Options) error {
	s, err := Start(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "kafka bootstrap: %s\n", strings.Join(s.Bootstrap(), ","))
	fmt.Fprintf(w, "schema registry: %s\n", s.RegistryURL())
	ids := s.SchemaIDs()
	subjects := make([]string, 0, len(ids))
	for k := range ids {
		subjects = append(subjects, k)
	}
	sort.Strings(subjects)
	for _, subj := range subjects {
		fmt.Fprintf(w, "registered %s: id %d\n", subj, ids[subj])
	}
	if o.DataDir != "" {
		fmt.Fprintf(w, "data dir: %s\n", o.DataDir)
	}
	fmt.Fprintln(w, "running; interrupt to stop")
	<-ctx.Done()
	if err := s.Close(); err != nil {
		return err
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}
