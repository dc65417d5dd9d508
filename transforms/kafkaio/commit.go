package kafkaio

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/typex"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register.DoFn2x0[Record, func(beam.EventTime, string, Mark)](&markFn{})
	register.DoFn2x0[Batch, func(beam.EventTime, string, Mark)](&markBatchFn{})
	register.DoFn5x1[context.Context, state.Provider, timers.Provider, string, Mark, error](&commitFn{})
	register.Emitter3[beam.EventTime, string, Mark]()
	beam.RegisterType(reflect.TypeOf((*Mark)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*dropFn)(nil)).Elem())
}

// Mark says that a bundle read the offsets [From, Next) of a partition,
// whose records' timestamps were at most MaxTS (ms).
type Mark struct {
	Topic     string
	Partition int32
	From      int64
	Next      int64
	MaxTS     int64
}

// Commit commits the consumer group's offsets for what read (the output of
// Read or ReadBatches) read, once everything those records caused is
// durable: an offset is committed only when the watermark of every
// PCollection in written (the outputs of Write, deadletter.Write, or any
// sink that finishes its writes before its bundle does) has passed the
// timestamps of every record before it by delay. delay is how far behind
// its input's timestamps the pipeline may emit what an input causes (a
// windowed or ticked stage's window or tick; zero for element-wise
// pipelines).
//
// A run that fails, or a sink that cannot write, holds the watermark back,
// so nothing is committed for what was not written. Bounded reads commit
// what they read when the whole pipeline is done. Records behind the
// watermark when read (late data) are committed with their neighbours.
//
// Read's Group option names the group StartCommitted resumes from; Read
// itself never commits (it used to commit in bundle finalization, which
// happens when the runner has the bundle's output, not when a sink has
// written it).
func Commit(s beam.Scope, conn Conn, group string, read beam.PCollection, written []beam.PCollection, delay time.Duration) {
	s = s.Scope("kafkaio.Commit")
	if group == "" {
		panic("kafkaio.Commit: no consumer group")
	}
	if err := conn.Validate(); err != nil {
		panic(fmt.Sprintf("kafkaio.Commit: %v", err))
	}
	var marks beam.PCollection
	switch t := read.Type().Type(); t {
	case reflect.TypeOf(Record{}):
		marks = beam.ParDo(s, &markFn{}, read)
	case reflect.TypeOf(Batch{}):
		marks = beam.ParDo(s, &markBatchFn{}, read)
	default:
		panic(fmt.Sprintf("kafkaio.Commit: read is a PCollection of %v, want Record or Batch", t))
	}
	all := []beam.PCollection{marks}
	for _, w := range written {
		all = append(all, beam.ParDo(s, &dropFn{}, w))
	}
	beam.ParDo0(s, &commitFn{Conn: conn, Group: group, DelayMillis: delay.Milliseconds(),
		Pending: state.MakeValueState[[]byte]("pending"), Committed: state.MakeValueState[int64]("committed"),
		Timer: timers.InEventTime("commit")}, beam.Flatten(s, all...))
}

// dropFn passes nothing on: a written PCollection joins the commit stage
// for its watermark only.
type dropFn struct{}

func (dropFn) ProcessElement(_ typex.T, _ func(string, Mark)) {}

// marks collects a bundle's marks per partition.
type marks struct {
	by    map[string]*Mark
	minTS map[string]int64
}

func (m *marks) add(r *Record) {
	if m.by == nil {
		m.by, m.minTS = map[string]*Mark{}, map[string]int64{}
	}
	key := r.Topic + "/" + strconv.Itoa(int(r.Partition))
	ts := r.Timestamp.UnixMilli()
	k, ok := m.by[key]
	if !ok {
		m.by[key] = &Mark{Topic: r.Topic, Partition: r.Partition, From: r.Offset, Next: r.Offset + 1, MaxTS: ts}
		m.minTS[key] = ts
		return
	}
	k.From, k.Next, k.MaxTS = min(k.From, r.Offset), max(k.Next, r.Offset+1), max(k.MaxTS, ts)
	m.minTS[key] = min(m.minTS[key], ts)
}

func (m *marks) flush(emit func(beam.EventTime, string, Mark)) {
	for key, k := range m.by {
		emit(mtime.Time(m.minTS[key]), key, *k)
	}
	m.by, m.minTS = nil, nil
}

type markFn struct{ m marks }

func (f *markFn) ProcessElement(r Record, _ func(beam.EventTime, string, Mark)) { f.m.add(&r) }
func (f *markFn) FinishBundle(emit func(beam.EventTime, string, Mark))          { f.m.flush(emit) }

type markBatchFn struct{ m marks }

func (f *markBatchFn) ProcessElement(b Batch, _ func(beam.EventTime, string, Mark)) {
	for i := range b.Records {
		f.m.add(&b.Records[i])
	}
}
func (f *markBatchFn) FinishBundle(emit func(beam.EventTime, string, Mark)) { f.m.flush(emit) }

// commitFn keeps a partition's marks until the watermark passes them.
type commitFn struct {
	Conn        Conn
	Group       string
	DelayMillis int64

	Pending   state.Value[[]byte] // JSON []Mark
	Committed state.Value[int64]  // the offset last committed
	Timer     timers.EventTime

	adm *kadm.Client
}

func (f *commitFn) Setup() error {
	opts, err := f.Conn.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafkaio: commit client: %w", err)
	}
	f.adm = kadm.NewClient(cl)
	return nil
}

func (f *commitFn) Teardown() {
	if f.adm != nil {
		f.adm.Close()
	}
}

func (f *commitFn) pending(sp state.Provider) ([]Mark, error) {
	b, ok, err := f.Pending.Read(sp)
	if err != nil || !ok {
		return nil, err
	}
	var ms []Mark
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("kafkaio: commit state: %w", err)
	}
	return ms, nil
}

func (f *commitFn) save(sp state.Provider, ms []Mark) error {
	if len(ms) == 0 {
		return f.Pending.Clear(sp)
	}
	b, err := json.Marshal(ms)
	if err != nil {
		return fmt.Errorf("kafkaio: commit state: %w", err)
	}
	return f.Pending.Write(sp, b)
}

func (f *commitFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, _ string, m Mark) error {
	ms, err := f.pending(sp)
	if err != nil {
		return err
	}
	if err := f.save(sp, append(ms, m)); err != nil {
		return err
	}
	at := m.MaxTS + f.DelayMillis
	f.Timer.Set(tp, time.UnixMilli(at), timers.WithTag(strconv.FormatInt(at, 10)))
	return nil
}

func (f *commitFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, _ string, tc timers.Context) error {
	at, err := strconv.ParseInt(tc.Tag, 10, 64)
	if err != nil {
		return fmt.Errorf("kafkaio: commit timer tag %q: %w", tc.Tag, err)
	}
	ms, err := f.pending(sp)
	if err != nil || len(ms) == 0 {
		return err
	}
	committed, known, err := f.Committed.Read(sp)
	if err != nil {
		return err
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].From < ms[j].From })
	// Commit up to the end of the run of contiguous marks, from what was
	// committed last, whose records' effects the watermark has passed.
	next, n := committed, 0
	if !known {
		next = ms[0].From
	}
	for n < len(ms) && ms[n].From <= next && ms[n].MaxTS+f.DelayMillis <= at {
		next = max(next, ms[n].Next)
		n++
	}
	if n == 0 || known && next <= committed {
		return nil
	}
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: ms[0].Topic, Partition: ms[0].Partition, At: next, LeaderEpoch: -1})
	resp, err := f.adm.CommitOffsets(ctx, f.Group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("kafkaio: commit %s/%d at %d for group %q: %w", ms[0].Topic, ms[0].Partition, next, f.Group, err)
	}
	if err := f.Committed.Write(sp, next); err != nil {
		return err
	}
	return f.save(sp, ms[n:])
}
