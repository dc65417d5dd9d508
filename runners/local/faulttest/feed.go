package faulttest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/wire"
)

// Feed is a synthetic data set ready to produce: every fact, trial version
// and regulatory event as an Avro body, in event-time order.
type Feed struct {
	Data *synth.Dataset
	recs []feedRecord
}

type feedRecord struct {
	topic           string
	key             []byte
	body            []byte
	at              time.Time
	tenant, patient string // facts only
	kind            int    // 0 fact, 1 trial, 2 regulatory
}

// NewFeed generates the data set of c and encodes it.
func NewFeed(c synth.Config) (*Feed, error) {
	d := synth.Generate(c)
	f := &Feed{Data: d}
	fc, err := schemas.PatientFacts.Codec()
	if err != nil {
		return nil, err
	}
	tc, err := schemas.Trials.Codec()
	if err != nil {
		return nil, err
	}
	rc, err := schemas.Regulatory.Codec()
	if err != nil {
		return nil, err
	}
	for _, t := range d.Trials {
		body, err := tc.BinaryFromNative(nil, t.Native())
		if err != nil {
			return nil, fmt.Errorf("faulttest: encode trial %s: %w", t.ProtocolNo, err)
		}
		f.recs = append(f.recs, feedRecord{topic: schemas.Trials.Topic, key: []byte(t.ProtocolNo), body: body, at: t.EventTime, kind: 1})
	}
	for _, e := range d.Regulatory {
		body, err := rc.BinaryFromNative(nil, e.Native())
		if err != nil {
			return nil, fmt.Errorf("faulttest: encode regulatory event %s: %w", e.EventID, err)
		}
		key := e.ProtocolNo
		if e.SiteID != nil {
			key += "/" + *e.SiteID
		}
		f.recs = append(f.recs, feedRecord{topic: schemas.Regulatory.Topic, key: []byte(key), body: body, at: e.EventTime, kind: 2})
	}
	for _, x := range d.Facts {
		body, err := x.AppendAvro(fc, nil)
		if err != nil {
			return nil, err
		}
		f.recs = append(f.recs, feedRecord{topic: schemas.PatientFacts.Topic, key: []byte(x.PatientID), body: body, at: x.EventTime,
			tenant: x.Tenant, patient: x.PatientID})
	}
	// Trials and approvals first within one instant, as synth.Produce
	// writes them before the facts.
	sort.SliceStable(f.recs, func(i, j int) bool {
		if !f.recs[i].at.Equal(f.recs[j].at) {
			return f.recs[i].at.Before(f.recs[j].at)
		}
		return f.recs[i].kind != 0 && f.recs[j].kind == 0
	})
	return f, nil
}

// Len is the number of records of the feed.
func (f *Feed) Len() int { return len(f.recs) }

// End is the event time of the last record.
func (f *Feed) End() time.Time {
	if len(f.recs) == 0 {
		return time.Time{}
	}
	return f.recs[len(f.recs)-1].at
}

// Placed is where one produced record landed.
type Placed struct {
	Topic           string
	Partition       int32
	Offset          int64
	EventTime       time.Time
	Tenant, Patient string // facts only
}

// Target is a stack the feed produces to; it remembers every record's
// partition and offset.
type Target struct {
	Stack  *Stack
	client *kgo.Client

	mu     sync.Mutex
	placed []Placed
	err    error
}

// NewTarget opens a producer to s; the test's cleanup closes it.
func NewTarget(t interface {
	Cleanup(func())
	Fatalf(string, ...any)
}, s *Stack) *Target {
	// No RecordDeliveryTimeout: franz-go measures it from the record's
	// Timestamp, which is the (possibly old) event time.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Bootstrap()...), kgo.ProducerLinger(2*time.Millisecond),
		kgo.RecordRetries(1<<30))
	if err != nil {
		t.Fatalf("faulttest: kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return &Target{Stack: s, client: cl}
}

// Placed returns what was produced so far.
func (tg *Target) Placed() []Placed {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]Placed(nil), tg.placed...)
}

func (tg *Target) produce(ctx context.Context, r *feedRecord) {
	ids := tg.Stack.IDs()
	id := ids.Facts
	switch r.kind {
	case 1:
		id = ids.Trials
	case 2:
		id = ids.Regulatory
	}
	kr := &kgo.Record{Topic: r.topic, Key: r.key, Value: wire.Append(nil, id, r.body), Timestamp: r.at}
	tenant, patient := r.tenant, r.patient
	tg.client.Produce(ctx, kr, func(kr *kgo.Record, err error) {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		if err != nil {
			if tg.err == nil {
				tg.err = fmt.Errorf("faulttest: produce to %s on stack %s: %w", kr.Topic, tg.Stack.Name, err)
			}
			return
		}
		tg.placed = append(tg.placed, Placed{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset,
			EventTime: kr.Timestamp, Tenant: tenant, Patient: patient})
	})
}

func (tg *Target) flush(ctx context.Context) error {
	if err := tg.client.Flush(ctx); err != nil {
		return fmt.Errorf("faulttest: flush to stack %s: %w", tg.Stack.Name, err)
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.err
}

// Produce writes records [from, to) of the feed (in event-time order) to
// every target at once and waits until they are acknowledged.
func (f *Feed) Produce(ctx context.Context, from, to int, targets ...*Target) error {
	for i := from; i < to && i < len(f.recs); i++ {
		for _, tg := range targets {
			tg.produce(ctx, &f.recs[i])
		}
	}
	for _, tg := range targets {
		if err := tg.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Drip writes the feed to every target as input arriving live: each record
// once the wall clock reaches its event time (generate the data set with
// synth.Config.Start a little after now). It returns when all are
// acknowledged, or with ctx's error.
func (f *Feed) Drip(ctx context.Context, targets ...*Target) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	i := 0
	for i < len(f.recs) {
		now := time.Now()
		for ; i < len(f.recs) && !f.recs[i].at.After(now); i++ {
			for _, tg := range targets {
				tg.produce(ctx, &f.recs[i])
			}
		}
		if i == len(f.recs) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	for _, tg := range targets {
		if err := tg.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}
