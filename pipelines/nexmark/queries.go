package nexmark

import (
	"reflect"
	"strconv"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/trialflow/trialflow/transforms/join"
)

func init() {
	register.DoFn4x0[int64, func(beam.EventTime, []byte), func(beam.EventTime, []byte), func(beam.EventTime, []byte)](&sourceFn{})
	register.Function2x1(personByID)
	register.Function2x1(q3PersonByID)
	register.Function2x1(auctionBySeller)
	register.Function2x1(q3AuctionBySeller)
	register.Function2x1(auctionByID)
	register.Function2x1(bidByAuction)
	register.Function2x1(formatQ8)
	register.Function2x1(formatQ3)
	register.Function2x0(q4Candidates)
	register.Function2x1(betterWin)
	register.Function3x0(q4ByCategory)
	register.Function3x0(formatQ4)
	register.Emitter2[beam.EventTime, []byte]()
	register.Emitter2[string, []byte]()
	register.Emitter2[int64, Win]()
	register.Emitter2[int64, int64]()
	register.Emitter1[string]()
	beam.RegisterType(typeOfWin)
}

// Source generates the events of cfg in parallel slices of `step` events and
// returns persons, auctions and bids as PCollection<[]byte> (encoded with
// AppendPerson, AppendAuction, AppendBid) timestamped at their event time.
func Source(s beam.Scope, cfg Config, step int64) (persons, auctions, bids beam.PCollection) {
	s = s.Scope("nexmark.Source")
	if step <= 0 {
		step = 10000
	}
	var starts []int64
	for i := int64(0); i < cfg.NumEvents; i += step {
		starts = append(starts, i)
	}
	imp := beam.CreateList(s, starts)
	return beam.ParDo3(s, &sourceFn{Cfg: cfg, Step: step}, imp)
}

type sourceFn struct {
	Cfg  Config
	Step int64
}

func (f *sourceFn) ProcessElement(start int64, persons, auctions, bids func(beam.EventTime, []byte)) {
	g := NewGenerator(f.Cfg)
	end := min(start+f.Step, f.Cfg.NumEvents)
	// Payloads are carved from one slab (each capped at its length, so a
	// consumer appending to one cannot overwrite the next): one allocation
	// per few hundred events instead of one per event.
	var slab []byte
	carve := func(from int) []byte { return slab[from:len(slab):len(slab)] }
	for id := start; id < end; id++ {
		if cap(slab)-len(slab) < 256 {
			slab = make([]byte, 0, 32<<10)
		}
		e := g.Event(id)
		switch {
		case e.Person != nil:
			n := len(slab)
			slab = AppendPerson(slab, e.Person)
			persons(mtime.FromMilliseconds(e.Person.DateTime), carve(n))
		case e.Auction != nil:
			n := len(slab)
			slab = AppendAuction(slab, e.Auction)
			auctions(mtime.FromMilliseconds(e.Auction.DateTime), carve(n))
		default:
			n := len(slab)
			slab = AppendBid(slab, e.Bid)
			bids(mtime.FromMilliseconds(e.Bid.DateTime), carve(n))
		}
	}
}

func key(id int64) string { return strconv.FormatInt(id, 10) }

// The keying functions drop undecodable payloads with an error; generated
// payloads always decode.

func personByID(b []byte, emit func(string, []byte)) error {
	p, err := DecodePerson(b)
	if err != nil {
		return err
	}
	emit(key(p.ID), b)
	return nil
}

func q3PersonByID(b []byte, emit func(string, []byte)) error {
	p, err := DecodePerson(b)
	if err != nil {
		return err
	}
	if Q3Person(p) {
		emit(key(p.ID), b)
	}
	return nil
}

func auctionBySeller(b []byte, emit func(string, []byte)) error {
	a, err := DecodeAuction(b)
	if err != nil {
		return err
	}
	emit(key(a.Seller), b)
	return nil
}

func q3AuctionBySeller(b []byte, emit func(string, []byte)) error {
	a, err := DecodeAuction(b)
	if err != nil {
		return err
	}
	if Q3Auction(a) {
		emit(key(a.Seller), b)
	}
	return nil
}

func auctionByID(b []byte, emit func(string, []byte)) error {
	a, err := DecodeAuction(b)
	if err != nil {
		return err
	}
	emit(key(a.ID), b)
	return nil
}

func bidByAuction(b []byte, emit func(string, []byte)) error {
	bid, err := DecodeBid(b)
	if err != nil {
		return err
	}
	emit(key(bid.Auction), b)
	return nil
}

// Q8 is Nexmark query 8: new persons and the auctions they opened in the same
// 10-second tumbling window, as "windowStart,personID,name,reserve" lines.
// opts go to join.Window (join.Batched(n) selects the batched path).
func Q8(s beam.Scope, persons, auctions beam.PCollection, opts ...join.WindowOption) beam.PCollection {
	s = s.Scope("nexmark.Q8")
	w := window.NewFixedWindows(Q8Window * time.Millisecond)
	p := beam.WindowInto(s, w, beam.ParDo(s, personByID, persons))
	a := beam.WindowInto(s, w, beam.ParDo(s, auctionBySeller, auctions))
	return beam.ParDo(s, formatQ8, join.Window(s, join.Inner, []beam.PCollection{p, a}, opts...))
}

func formatQ8(t join.Tuple, emit func(string)) error {
	p, err := DecodePerson(t.Rows[0])
	if err != nil {
		return err
	}
	a, err := DecodeAuction(t.Rows[1])
	if err != nil {
		return err
	}
	emit(Q8Line(t.Start, p, a))
	return nil
}

// Q3StateTTL bounds how long Q3 keeps a person or an auction waiting for its
// partner (in event time).
const Q3StateTTL = time.Hour

// Q3 is Nexmark query 3: sellers from OR, ID or CA of auctions in category
// 10, as "name,city,state,auctionID" lines. It is an incremental join with
// state: an interval join with bounds ±Q3StateTTL emits each pair as soon as
// its second side arrives. dead holds the rows the join reported late, as
// dead letters of stage Q3Stage (join.LateToDeadLetters).
func Q3(s beam.Scope, persons, auctions beam.PCollection, opts ...join.IntervalOption) (results, dead beam.PCollection) {
	s = s.Scope("nexmark.Q3")
	p := beam.ParDo(s, q3PersonByID, persons)
	a := beam.ParDo(s, q3AuctionBySeller, auctions)
	// State lives an hour: cleaning it up to a minute late costs nothing
	// and lets one timer firing release a minute of rows.
	opts = append([]join.IntervalOption{join.CleanupEvery(time.Minute)}, opts...)
	joined, late := join.Interval(s, join.Inner, a, p, -Q3StateTTL, Q3StateTTL, opts...)
	return beam.ParDo(s, formatQ3, joined), join.LateToDeadLetters(s, late, Q3Stage)
}

// Q3Stage and Q4Stage are the stage names on the dead letters of Q3's and
// Q4's late rows.
const (
	Q3Stage = "nexmark.Q3"
	Q4Stage = "nexmark.Q4"
)

func formatQ3(pr join.Pair, emit func(string)) error {
	a, err := DecodeAuction(pr.Left)
	if err != nil {
		return err
	}
	p, err := DecodePerson(pr.Right)
	if err != nil {
		return err
	}
	emit(Q3Line(p, a))
	return nil
}

// Win is a candidate winning bid of an auction.
type Win struct {
	Category, Price, TS, Bidder int64
}

var typeOfWin = reflect.TypeOf(Win{})

// Q4 is Nexmark query 4: the average winning price per category, as
// "category,average" lines. Bids meet their auction with an interval join
// (0 to maxAuctionLength after the auction opened); the winner of each
// auction and the averages are then aggregated in the global window with the
// default trigger: on unbounded input the result fires once, when the
// watermark reaches the end of the global window. dead holds the rows the
// join reported late, as dead letters of stage Q4Stage.
func Q4(s beam.Scope, auctions, bids beam.PCollection, maxAuctionLength time.Duration) (results, dead beam.PCollection) {
	s = s.Scope("nexmark.Q4")
	a := beam.ParDo(s, auctionByID, auctions)
	b := beam.ParDo(s, bidByAuction, bids)
	joined, late := join.Interval(s, join.Inner, a, b, 0, maxAuctionLength)
	cands := beam.ParDo(s, q4Candidates, joined)
	winners := beam.CombinePerKey(s, betterWin, cands)
	prices := beam.ParDo(s, q4ByCategory, winners)
	return beam.ParDo(s, formatQ4, stats.MeanPerKey(s, prices)), join.LateToDeadLetters(s, late, Q4Stage)
}

func q4Candidates(pr join.Pair, emit func(int64, Win)) {
	a, err := DecodeAuction(pr.Left)
	if err != nil {
		return
	}
	b, err := DecodeBid(pr.Right)
	if err != nil {
		return
	}
	if Wins(a, b) {
		emit(a.ID, Win{Category: a.Category, Price: b.Price, TS: b.DateTime, Bidder: b.Bidder})
	}
}

func betterWin(x, y Win) Win {
	if Better(Bid{Price: x.Price, DateTime: x.TS, Bidder: x.Bidder}, Bid{Price: y.Price, DateTime: y.TS, Bidder: y.Bidder}) {
		return x
	}
	return y
}

func q4ByCategory(_ int64, w Win, emit func(int64, int64)) {
	emit(w.Category, w.Price)
}

func formatQ4(category int64, avg float64, emit func(string)) {
	emit(Q4Line(category, avg))
}
