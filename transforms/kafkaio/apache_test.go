package kafkaio_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/runners/apachekafka"
)

// With TRIALFLOW_KAFKA=apache (make test-kafka), every test that takes its
// broker from newCluster runs against one real Apache Kafka broker started
// by runners/apachekafka instead of kfake: its topics (and groups) are
// deleted and the test's topics created afresh before each test.
var apache struct {
	once sync.Once
	b    *apachekafka.Broker
	err  error
}

func apacheEnabled() bool { return os.Getenv("TRIALFLOW_KAFKA") == "apache" }

// apacheBroker returns the shared broker's address, starting it on first use.
// Without java or mvn the test skips, except in CI (CI=true) where it fails.
func apacheBroker(t testing.TB) string {
	t.Helper()
	apache.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		apache.b, apache.err = apachekafka.Start(ctx, apachekafka.Config{Log: os.Stderr})
	})
	if apache.err != nil {
		if apachekafka.IsUnavailable(apache.err) && os.Getenv("CI") != "true" {
			t.Skipf("Apache Kafka broker unavailable: %v", apache.err)
		}
		t.Fatalf("Apache Kafka broker: %v", apache.err)
	}
	return apache.b.Addr
}

func stopApacheKafka() {
	if apache.b != nil {
		apache.b.Stop()
	}
}

// resetTopics deletes every topic and group on the broker, then creates
// topics with the given partition count.
func resetTopics(t testing.TB, addr string, partitions int32, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if groups, err := adm.ListGroups(ctx); err == nil && len(groups) > 0 {
		_, _ = adm.DeleteGroups(ctx, groups.Groups()...)
	}
	for {
		listed, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatalf("list topics: %v", err)
		}
		names := listed.Names()
		if len(names) == 0 {
			break
		}
		if _, err := adm.DeleteTopics(ctx, names...); err != nil && ctx.Err() != nil {
			t.Fatalf("delete topics %v: %v", names, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, topic := range topics {
		for {
			res, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
			if err == nil && res.Err == nil {
				break
			}
			if err == nil {
				err = res.Err
			}
			if ctx.Err() != nil || !(errors.Is(err, kerr.TopicAlreadyExists) || strings.Contains(err.Error(), "marked for deletion")) {
				t.Fatalf("create topic %s: %v", topic, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Metadata reaches the broker's cache shortly after creation.
	for {
		md, err := adm.Metadata(ctx, topics...)
		if err == nil {
			ready := true
			for _, topic := range topics {
				td, ok := md.Topics[topic]
				if !ok || td.Err != nil || int32(len(td.Partitions)) != partitions {
					ready = false
				}
			}
			if ready {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("topics %v not ready: %v", topics, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestApacheKafkaKeepsOldRecords (TRIALFLOW_KAFKA=apache): the test broker
// deletes nothing by time. The tests write records stamped in 2023; with
// Kafka's default retention (7 days) the broker's retention check (30 s
// after start, then every 5 minutes) deleted them under whatever test ran
// at that moment, and its bounded read found its range gone
// (TestWriteTransactionalPrism's 0 of 50 in CI). A probe that produced
// such records saw the log start offset jump from 0 to 50 within 30 s on
// the default configuration and stay at 0 with this one.
func TestApacheKafkaKeepsOldRecords(t *testing.T) {
	if !apacheEnabled() {
		t.Skip("TRIALFLOW_KAFKA=apache not set")
	}
	addr := apacheBroker(t)
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rcs, err := adm.DescribeBrokerConfigs(ctx, md.Brokers.NodeIDs()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == "log.retention.ms" {
				if c.Value == nil || *c.Value != "-1" {
					t.Fatalf("broker %s: log.retention.ms = %v, want -1", rc.Name, c.MaybeValue())
				}
				return
			}
		}
	}
	t.Fatal("log.retention.ms not described")
}
