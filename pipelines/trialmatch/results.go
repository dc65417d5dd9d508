package trialmatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// ReadTopic consumes every record of topic up to its end offsets at the
// time of the call and returns the Confluent-framed values decoded to the
// contract's schema through the registry, each converted by conv.
func ReadTopic[T any](ctx context.Context, brokers []string, registryURL, topic string, c schemas.Contract, conv func(body []byte) (T, error)) ([]T, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, fmt.Errorf("trialmatch: kafka client: %w", err)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	cl.Close()
	if err != nil {
		return nil, fmt.Errorf("trialmatch: end offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	return readTopicUntil(ctx, kafkaio.Conn{Brokers: brokers}, registryURL, registry.Auth{}, topic, c, want, conv)
}

// readTopicUntil is ReadTopic up to the given end offsets (by partition;
// partitions not named are not read), in offset order within a partition.
func readTopicUntil[T any](ctx context.Context, conn kafkaio.Conn, registryURL string, auth registry.Auth, topic string, c schemas.Contract, ends map[int32]int64, conv func(body []byte) (T, error)) ([]T, error) {
	if len(ends) == 0 {
		return nil, nil
	}
	parts := map[int32]kgo.Offset{}
	want := map[int32]int64{}
	for p, e := range ends {
		if e > 0 {
			parts[p], want[p] = kgo.NewOffset().AtStart(), e
		}
	}
	opts, err := conn.Opts()
	if err != nil {
		return nil, fmt.Errorf("trialmatch: %w", err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))...)
	if err != nil {
		return nil, fmt.Errorf("trialmatch: kafka client: %w", err)
	}
	defer cl.Close()
	reg, err := registry.NewClient(registryURL, registry.WithAuth(auth))
	if err != nil {
		return nil, err
	}
	dec, err := avroio.NewDecoder(reg, c.Schema())
	if err != nil {
		return nil, err
	}
	var out []T
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("trialmatch: read %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return out, fmt.Errorf("trialmatch: read %s: %w", topic, ferr)
		}
		for _, r := range fs.Records() {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				continue
			}
			if r.Offset >= end-1 {
				delete(want, r.Partition)
			}
			body, _, err := dec.Decode(nil, r.Value)
			if err != nil {
				return out, fmt.Errorf("trialmatch: %s/%d@%d: %w", topic, r.Partition, r.Offset, err)
			}
			v, err := conv(body)
			if err != nil {
				return out, fmt.Errorf("trialmatch: %s/%d@%d: %w", topic, r.Partition, r.Offset, err)
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// ReadApproved reads the approved_patients topic.
func ReadApproved(ctx context.Context, brokers []string, registryURL, topic string) ([]schemas.ApprovedPatient, error) {
	codec, err := schemas.ApprovedPatients.Codec()
	if err != nil {
		return nil, err
	}
	return ReadTopic(ctx, brokers, registryURL, topic, schemas.ApprovedPatients, func(body []byte) (schemas.ApprovedPatient, error) {
		v, _, err := codec.NativeFromBinary(body)
		if err != nil {
			return schemas.ApprovedPatient{}, err
		}
		a, err := schemas.ApprovedPatientFromNative(v)
		if err != nil {
			return schemas.ApprovedPatient{}, err
		}
		return *a, nil
	})
}

// ReadDeadLetters reads the dead_letter topic.
func ReadDeadLetters(ctx context.Context, brokers []string, registryURL, topic string) ([]deadletter.Record, error) {
	return ReadTopic(ctx, brokers, registryURL, topic, schemas.DeadLetters, deadletter.FromAvro)
}

// CreateTenantTopics creates "<base>.<tenant>" for every tenant (with
// PerTenantTopics the pipeline writes there and does not create topics:
// granting a practice its topic is an operator's decision). Topics that
// exist already are left as they are.
func CreateTenantTopics(ctx context.Context, brokers []string, base string, tenants []string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("trialmatch: kafka client: %w", err)
	}
	defer cl.Close()
	names := make([]string, len(tenants))
	for i, t := range tenants {
		names[i] = base + "." + t
	}
	res, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, names...)
	if err != nil {
		return fmt.Errorf("trialmatch: create tenant topics: %w", err)
	}
	for _, r := range res.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("trialmatch: create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}
