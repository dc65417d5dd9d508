package nexmark

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/trialflow/trialflow/transforms/deadletter"
)

func init() {
	register.Function4x0(splitEvents)
	register.Function2x0(deadReason)
	register.Function1x1(keptPayload)
	beam.RegisterType(reflect.TypeOf(streamEvent{}))
}

// streamEvent is one encoded event of a test input, with its kind and time.
type streamEvent struct {
	Kind int
	TS   int64
	Data []byte
}

// keptPayload reports whether a dead letter carries its payload and stage.
func keptPayload(r deadletter.Record) bool { return r.Payload != nil && r.Stage == ValidateStage }

// splitEvents routes events by kind, timestamped at their event time.
func splitEvents(e streamEvent, persons, auctions, bids func(beam.EventTime, []byte)) {
	out := []func(beam.EventTime, []byte){persons, auctions, bids}[e.Kind]
	out(mtime.FromMilliseconds(e.TS), e.Data)
}

func deadReason(r deadletter.Record, emit func(string)) {
	emit(r.ReasonCode + ": " + r.Reason)
}

func encodeEvents(events []Event) []streamEvent {
	out := make([]streamEvent, len(events))
	for i, e := range events {
		switch {
		case e.Person != nil:
			out[i] = streamEvent{Kind: int(PersonEvent), TS: e.Person.DateTime, Data: AppendPerson(nil, e.Person)}
		case e.Auction != nil:
			out[i] = streamEvent{Kind: int(AuctionEvent), TS: e.Auction.DateTime, Data: AppendAuction(nil, e.Auction)}
		default:
			out[i] = streamEvent{Kind: int(BidEvent), TS: e.Bid.DateTime, Data: AppendBid(nil, e.Bid)}
		}
	}
	return out
}

// TestQ4Unbounded runs Q4 on an unbounded TestStream of the test events:
// chunks of one second of event time, the watermark advancing after each to
// the earliest time still to come, then to infinity. Q4's global-window
// aggregation fires when the watermark reaches the end of the global window,
// so the result equals the bounded golden.
func TestQ4Unbounded(t *testing.T) {
	events := encodeEvents(Generate(testConfig))
	sort.SliceStable(events, func(i, j int) bool { return events[i].TS < events[j].TS })
	cfg := teststream.NewConfig()
	const chunk = 1000
	for i := 0; i < len(events); i += chunk {
		c := events[i:min(i+chunk, len(events))]
		elems := make([]any, len(c))
		for j := range c {
			elems[j] = c[j]
		}
		// Stamped at the chunk's first time; splitEvents moves each event
		// forward to its own time.
		if err := cfg.AddElements(c[0].TS, elems...); err != nil {
			t.Fatal(err)
		}
		if i+chunk < len(events) {
			if err := cfg.AdvanceWatermark(events[i+chunk].TS); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cfg.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	_, auctions, bids := beam.ParDo3(s, splitEvents, teststream.Create(s, cfg))
	maxLen := time.Duration(NewGenerator(testConfig).MaxAuctionLength()) * time.Millisecond
	q4, dead := Q4(s, auctions, bids, maxLen)
	passert.EqualsList(s, beam.WindowInto(s, window.NewGlobalWindows(), q4), RefQ4(Generate(testConfig)))
	passert.Empty(s, dead)
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	good := Generate(Config{NumEvents: 50, Seed: 3})
	for _, e := range encodeEvents(good) {
		if err := Check(EventKind(e.Kind), e.Data); err != nil {
			t.Fatalf("generated %v rejected: %v", EventKind(e.Kind), err)
		}
	}
	bid := AppendBid(nil, &Bid{Auction: 1000, Bidder: 1001, Price: 5, DateTime: 1})
	for _, c := range []struct {
		kind EventKind
		b    []byte
		code deadletter.Code
		is   error
	}{
		{BidEvent, bid[:2], deadletter.TruncatedPayload, ErrTruncated},
		{BidEvent, append(bid[:len(bid):len(bid)], 0), deadletter.InvalidPayload, ErrTrailing},
		{BidEvent, AppendBid(nil, &Bid{Auction: 7, Price: 5}), deadletter.InvalidRecord, nil},
		{BidEvent, AppendBid(nil, &Bid{Auction: 1000, Price: -1}), deadletter.InvalidRecord, nil},
		{PersonEvent, []byte{2, 0xff, 0xff, 0xff, 0x0f}, deadletter.TruncatedPayload, ErrTruncated},
		{PersonEvent, AppendPerson(nil, &Person{ID: 3}), deadletter.InvalidRecord, nil},
		{AuctionEvent, AppendAuction(nil, &Auction{ID: 1000, Seller: 1000, DateTime: 10, Expires: 5}), deadletter.InvalidRecord, nil},
		{AuctionEvent, AppendAuction(nil, &Auction{ID: 1000, Seller: 2}), deadletter.InvalidRecord, nil},
		{AuctionEvent, nil, deadletter.TruncatedPayload, ErrTruncated},
	} {
		err := Check(c.kind, c.b)
		if err == nil {
			t.Errorf("%v %x accepted", c.kind, c.b)
			continue
		}
		if got := deadletter.CodeOf(err); got != c.code {
			t.Errorf("%v %x: code %s, want %s (%v)", c.kind, c.b, got, c.code, err)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%v %x: %v does not wrap %v", c.kind, c.b, err, c.is)
		}
	}
}

// TestDeadLetters mixes malformed payloads into the events of every kind:
// they go to the dead-letter output with a reason, in = valid + dead holds
// per kind, and Q8 over the valid events still equals the brute force.
func TestDeadLetters(t *testing.T) {
	cfg := Config{NumEvents: 5000, Seed: 7, EventsPerSecond: 250}
	good := Generate(cfg)
	in := encodeEvents(good)
	ts := in[0].TS
	bid := AppendBid(nil, &Bid{Auction: 1000, Bidder: 1001, Price: 5, DateTime: ts})
	bad := []streamEvent{
		{int(PersonEvent), ts, []byte{2, 0xff, 0xff, 0xff, 0x0f}},
		{int(AuctionEvent), ts, []byte{0x80}},
		{int(AuctionEvent), ts, AppendAuction(nil, &Auction{ID: 1000, Seller: 5, DateTime: ts, Expires: ts + 1})},
		{int(BidEvent), ts, bid[:3]},
		{int(BidEvent), ts, AppendBid(nil, &Bid{Auction: 12, Bidder: 1001, Price: 5, DateTime: ts})},
		{int(BidEvent), ts, append(append([]byte(nil), bid...), 1, 2)},
	}
	var counts [3]int
	for _, e := range in {
		counts[e.Kind]++
	}
	var badCounts [3]int
	for _, e := range bad {
		badCounts[e.Kind]++
	}

	p, s := beam.NewPipelineWithRoot()
	persons, auctions, bids := beam.ParDo3(s, splitEvents, beam.CreateList(s, append(in, bad...)))
	var deads []beam.PCollection
	valid := make([]beam.PCollection, 3)
	for k, col := range []beam.PCollection{persons, auctions, bids} {
		v, dead := Validate(s, EventKind(k), col)
		passert.Count(s, v, fmt.Sprintf("valid %v", EventKind(k)), counts[k])
		passert.Count(s, dead, fmt.Sprintf("dead %v", EventKind(k)), badCounts[k])
		valid[k], deads = v, append(deads, dead)
	}
	dead := beam.Flatten(s, deads...)
	passert.Equals(s, beam.ParDo(s, deadReason, dead),
		"truncated_payload: nexmark: person payload of 5 bytes: decode person: nexmark: person name length 33554431 exceeds the 0 bytes left (limit 65536): nexmark: truncated payload",
		"truncated_payload: nexmark: auction payload of 1 bytes: decode auction: nexmark: truncated payload",
		"invalid_record: nexmark: auction 1000 has seller 5, an unknown person (ids start at 1000)",
		"truncated_payload: nexmark: bid payload of 3 bytes: decode bid: nexmark: truncated payload",
		"invalid_record: nexmark: bid for unknown auction 12 (ids start at 1000)",
		"invalid_payload: nexmark: bid payload of "+fmt.Sprint(len(bid)+2)+" bytes: decode bid: 2 bytes left: nexmark: trailing bytes after the last field")
	passert.True(s, dead, keptPayload)
	passert.EqualsList(s, beam.WindowInto(s, window.NewGlobalWindows(), Q8(s, valid[0], valid[1])), RefQ8(good))
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}
