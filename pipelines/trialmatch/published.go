package trialmatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch/reconcile"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(beam.EventTime, string, keyed), error](&publishedFn{})
	register.Function2x2(keyMatch)
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, keyed, func(beam.EventTime, schemas.ApprovedPatient), error](&reconcileFn{})
	register.DoFn3x1[string, func(*keyed) bool, func(beam.EventTime, schemas.ApprovedPatient), error](&reconcileBatchFn{})
	register.Emitter3[beam.EventTime, string, keyed]()
	register.Iter1[keyed]()
	beam.RegisterType(reflectTypeOf[keyed]())
}

// keyed is an element of the reconcile stages, keyed by match id: a record
// already on approved_patients when the run started (Published, Seq its
// position) or one the pipeline made (TS its element time, ms).
type keyed struct {
	Published bool
	Seq       int64
	TS        int64
	Rec       schemas.ApprovedPatient
}

// Snapshot names what was published on approved_patients when the pipeline
// was built: every partition's end offset then. Workers read the records
// below those offsets, so what this run writes is never taken for what an
// earlier run published.
type Snapshot struct {
	Conn         kafkaio.Conn // brokers and security (secrets by reference)
	RegistryURL  string
	RegistryAuth registry.Auth // by reference, resolved on the worker
	Topic        string
	Ends         []int64 // by partition
}

// TakeSnapshot lists approved_patients' end offsets now. A topic that does
// not exist yet has published nothing.
// conn and auth say how to reach Kafka and the registry (the workers that
// read the snapshot's records use them too).
func TakeSnapshot(ctx context.Context, conn kafkaio.Conn, registryURL string, auth registry.Auth, topic string) (Snapshot, error) {
	snap := Snapshot{Conn: conn, RegistryURL: registryURL, RegistryAuth: auth, Topic: topic}
	opts, err := conn.Opts()
	if err != nil {
		return snap, fmt.Errorf("trialmatch: %w", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return snap, fmt.Errorf("trialmatch: kafka client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return snap, fmt.Errorf("trialmatch: end offsets of %s (the published ledger): %w", topic, err)
	}
	var ferr error
	ends.Each(func(o kadm.ListedOffset) {
		switch {
		case errors.Is(o.Err, kerr.UnknownTopicOrPartition):
		case o.Err != nil:
			ferr = fmt.Errorf("trialmatch: end offset of %s/%d (the published ledger): %w", topic, o.Partition, o.Err)
		default:
			for int(o.Partition) >= len(snap.Ends) {
				snap.Ends = append(snap.Ends, 0)
			}
			snap.Ends[o.Partition] = o.Offset
		}
	})
	return snap, ferr
}

func (s Snapshot) id() string {
	return fmt.Sprintf("%s|%s|%s|%v", strings.Join(s.Conn.Brokers, ","), s.RegistryURL, s.Topic, s.Ends)
}

// loaded holds a snapshot's records by match id, in offset order, read once
// per process (every reconcile DoFn instance of the process shares it).
type loaded struct {
	once  sync.Once
	byKey map[string][]keyed
	err   error
}

var snapshots sync.Map // Snapshot.id() -> *loaded

// load reads the snapshot's records.
func (s Snapshot) load(ctx context.Context) (map[string][]keyed, error) {
	v, _ := snapshots.LoadOrStore(s.id(), &loaded{})
	l := v.(*loaded)
	l.once.Do(func() {
		l.byKey = map[string][]keyed{}
		ends := map[int32]int64{}
		for p, e := range s.Ends {
			if e > 0 {
				ends[int32(p)] = e
			}
		}
		if len(ends) == 0 {
			return
		}
		codec, err := schemas.ApprovedPatients.Codec()
		if err != nil {
			l.err = err
			return
		}
		var seq int64
		_, l.err = readTopicUntil(ctx, s.Conn, s.RegistryURL, s.RegistryAuth, s.Topic, schemas.ApprovedPatients, ends, func(body []byte) (struct{}, error) {
			v, _, err := codec.NativeFromBinary(body)
			if err != nil {
				return struct{}{}, err
			}
			a, err := schemas.ApprovedPatientFromNative(v)
			if err != nil {
				return struct{}{}, err
			}
			seq++
			l.byKey[a.MatchID] = append(l.byKey[a.MatchID], keyed{Published: true, Seq: seq, TS: a.EventTime.UnixMilli(), Rec: *a})
			return struct{}{}, nil
		})
		if l.err != nil {
			l.err = fmt.Errorf("trialmatch: read the published ledger %s: %w", s.Topic, l.err)
		}
	})
	if l.err != nil {
		// A later Setup (a retried bundle) tries again.
		snapshots.CompareAndDelete(s.id(), l)
	}
	return l.byKey, l.err
}

// publishedFn is the source of the published records: all of them (batch),
// or one per match id (streaming, where it only makes sure every published
// key is settled).
type publishedFn struct {
	Snapshot Snapshot
	All      bool
}

func (f *publishedFn) ProcessElement(ctx context.Context, _ []byte, emit func(beam.EventTime, string, keyed)) error {
	byKey, err := f.Snapshot.load(ctx)
	if err != nil {
		return err
	}
	for key, rs := range byKey {
		if !f.All {
			rs = rs[len(rs)-1:]
		}
		for _, r := range rs {
			emit(mtime.MinTimestamp, key, r)
		}
	}
	return nil
}

// keyMatch keys a record the pipeline made by its match id.
func keyMatch(ts beam.EventTime, a schemas.ApprovedPatient) (string, keyed) {
	return a.MatchID, keyed{TS: int64(ts), Rec: a}
}

// reconcileMatches turns the pipeline's records into what to publish, given
// what snap says is published already (package reconcile). Batch execution
// groups each key's records; streaming keeps each key's state and settles
// it when the watermark has passed the published records by a tick.
func reconcileMatches(s beam.Scope, matches beam.PCollection, snap Snapshot, cfg Config, execution Execution) beam.PCollection {
	s = s.Scope("Reconcile")
	made := beam.ParDo(s, keyMatch, matches)
	published := beam.ParDo(s, &publishedFn{Snapshot: snap, All: execution == Batch}, beam.Impulse(s))
	if execution == Batch {
		return beam.ParDo(s, &reconcileBatchFn{}, beam.GroupByKey(s, beam.Flatten(s, published, made)))
	}
	return beam.ParDo(s, newReconcileFn(snap, cfg.Tick), beam.Flatten(s, published, made))
}

// byTime orders a key's records as the pipeline made them.
func byTime(ks []keyed) {
	sort.SliceStable(ks, func(i, j int) bool {
		a, b := &ks[i], &ks[j]
		if a.TS != b.TS {
			return a.TS < b.TS
		}
		if !a.Rec.EventTime.Equal(b.Rec.EventTime) {
			return a.Rec.EventTime.Before(b.Rec.EventTime)
		}
		return a.Rec.MatchTime.Before(b.Rec.MatchTime)
	})
}

// reconcileBatchFn reconciles one key's published and new records.
type reconcileBatchFn struct{}

func (f *reconcileBatchFn) ProcessElement(key string, all func(*keyed) bool, emit func(beam.EventTime, schemas.ApprovedPatient)) error {
	var pub, mine []keyed
	var k keyed
	for all(&k) {
		if k.Published {
			pub = append(pub, k)
		} else {
			mine = append(mine, k)
		}
	}
	reconcileKey(pub, mine, time.Now(), emit)
	return nil
}

// reconcileKey passes on what to publish for one key, given its published
// records (pub, in any order) and those the pipeline made (mine, in any
// order): the batch form of reconcile, shared by the shuffle execution's
// group per key and the co-partitioned stage.
func reconcileKey(pub, mine []keyed, now time.Time, emit func(beam.EventTime, schemas.ApprovedPatient)) {
	sort.Slice(pub, func(i, j int) bool { return pub[i].Seq < pub[j].Seq })
	byTime(mine)
	recs := make([]schemas.ApprovedPatient, len(pub))
	for i := range pub {
		recs[i] = pub[i].Rec
	}
	st := reconcile.Seed(recs)
	last := mtime.MinTimestamp
	for _, m := range mine {
		last = mtime.Time(m.TS)
		for _, r := range st.Offer(m.Rec) {
			emit(last, r)
		}
	}
	if len(pub) > 0 {
		if at := mtime.FromTime(pub[len(pub)-1].Rec.EventTime); at > last {
			last = at
		}
	}
	for _, r := range st.Settle(now) {
		emit(last, r)
	}
}

// reconcileFn is the streaming form: per match id, the reconcile.Key in
// state (seeded from the snapshot the first time the key is seen), the
// pipeline's records buffered until the watermark passes them, and a settle
// timer a tick after the last published record.
type reconcileFn struct {
	Snapshot   Snapshot
	TickMillis int64

	Key     state.Value[[]byte] // JSON reconcile.Key
	Pending state.Value[[]byte] // JSON []keyed, waiting for the watermark
	// Timer fires a key's flushes (tag "f<ms>") and its settle ("s<ms>").
	// One family: Prism never fired the timers of a DoFn with two.
	Timer timers.EventTime

	published map[string][]keyed
}

func newReconcileFn(snap Snapshot, tick time.Duration) *reconcileFn {
	if tick <= 0 {
		tick = time.Minute
	}
	return &reconcileFn{
		Snapshot: snap, TickMillis: tick.Milliseconds(),
		Key:     state.MakeValueState[[]byte]("key"),
		Pending: state.MakeValueState[[]byte]("pending"),
		Timer:   timers.InEventTime("reconcile"),
	}
}

func (f *reconcileFn) Setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var err error
	f.published, err = f.Snapshot.load(ctx)
	return err
}

func (f *reconcileFn) state(sp state.Provider, tp timers.Provider, key string) (*reconcile.Key, error) {
	b, ok, err := f.Key.Read(sp)
	if err != nil {
		return nil, err
	}
	if ok {
		k := &reconcile.Key{}
		if err := json.Unmarshal(b, k); err != nil {
			return nil, fmt.Errorf("trialmatch: reconcile state of %s: %w", key, err)
		}
		return k, nil
	}
	pub := f.published[key]
	recs := make([]schemas.ApprovedPatient, len(pub))
	var latest int64
	for i, p := range pub {
		recs[i] = p.Rec
		latest = max(latest, p.Rec.EventTime.UnixMilli())
	}
	if len(pub) > 0 {
		at := tickOf(latest, f.TickMillis) + f.TickMillis
		f.Timer.Set(tp, msTime(at), timers.WithTag("s"+strconv.FormatInt(at, 10)))
	}
	return reconcile.Seed(recs), nil
}

func (f *reconcileFn) save(sp state.Provider, k *reconcile.Key) error {
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("trialmatch: encode reconcile state: %w", err)
	}
	return f.Key.Write(sp, b)
}

func (f *reconcileFn) pending(sp state.Provider) ([]keyed, error) {
	b, ok, err := f.Pending.Read(sp)
	if err != nil || !ok {
		return nil, err
	}
	var ks []keyed
	if err := json.Unmarshal(b, &ks); err != nil {
		return nil, fmt.Errorf("trialmatch: reconcile pending records: %w", err)
	}
	return ks, nil
}

func (f *reconcileFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, key string, in keyed,
	emit func(beam.EventTime, schemas.ApprovedPatient)) error {
	k, err := f.state(sp, tp, key)
	if err != nil {
		return err
	}
	if err := f.save(sp, k); err != nil {
		return err
	}
	if in.Published {
		return nil
	}
	ks, err := f.pending(sp)
	if err != nil {
		return err
	}
	b, err := json.Marshal(append(ks, in))
	if err != nil {
		return fmt.Errorf("trialmatch: encode reconcile pending records: %w", err)
	}
	if err := f.Pending.Write(sp, b); err != nil {
		return err
	}
	f.Timer.Set(tp, msTime(in.TS), timers.WithTag("f"+strconv.FormatInt(in.TS, 10)))
	return nil
}

func (f *reconcileFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, key string, tc timers.Context,
	emit func(beam.EventTime, schemas.ApprovedPatient)) error {
	if tc.Tag == "" {
		return fmt.Errorf("trialmatch: reconcile timer without a tag")
	}
	settle := tc.Tag[0] == 's'
	at, err := strconv.ParseInt(tc.Tag[1:], 10, 64)
	if err != nil {
		return fmt.Errorf("trialmatch: reconcile timer tag %q: %w", tc.Tag, err)
	}
	k, err := f.state(sp, tp, key)
	if err != nil {
		return err
	}
	ks, err := f.pending(sp)
	if err != nil {
		return err
	}
	byTime(ks)
	n := sort.Search(len(ks), func(i int) bool { return ks[i].TS > at })
	ts := mtime.Time(at)
	for _, m := range ks[:n] {
		for _, r := range k.Offer(m.Rec) {
			emit(ts, r)
		}
	}
	if settle {
		for _, r := range k.Settle(time.Now()) {
			emit(ts, r)
		}
	}
	if n > 0 {
		if n == len(ks) {
			if err := f.Pending.Clear(sp); err != nil {
				return err
			}
		} else {
			b, err := json.Marshal(ks[n:])
			if err != nil {
				return fmt.Errorf("trialmatch: encode reconcile pending records: %w", err)
			}
			if err := f.Pending.Write(sp, b); err != nil {
				return err
			}
		}
	}
	return f.save(sp, k)
}
