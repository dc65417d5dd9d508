package nexmark

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/transforms/deadletter"
)

func init() {
	register.DoFn5x0[context.Context, beam.EventTime, []byte, func(beam.EventTime, []byte), func(deadletter.Record)](&validateFn{})
	register.Emitter1[deadletter.Record]()
}

// EventKind names the kind of payload a PCollection carries.
type EventKind int

// The event kinds of Nexmark.
const (
	PersonEvent EventKind = iota
	AuctionEvent
	BidEvent
)

func (k EventKind) String() string {
	switch k {
	case PersonEvent:
		return "person"
	case AuctionEvent:
		return "auction"
	case BidEvent:
		return "bid"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// ValidateStage is the stage name on Nexmark dead letters.
const ValidateStage = "nexmark.Validate"

// Check decodes one payload of kind and checks it against the generator's
// invariants. The error carries a deadletter reason code: TruncatedPayload
// for a payload that ends inside a field, InvalidPayload for other
// undecodable bytes, InvalidRecord for a decodable event that breaks a
// rule (an id below the first id, a bid for an auction id that no auction
// can have, a negative price, an auction that expires before it opens).
func Check(kind EventKind, b []byte) error {
	var err error
	switch kind {
	case PersonEvent:
		var p Person
		if p, err = DecodePerson(b); err == nil && p.ID < FirstPersonID {
			return deadletter.Errorf(deadletter.InvalidRecord, "nexmark: person id %d is below the first person id %d", p.ID, FirstPersonID)
		}
	case AuctionEvent:
		var a Auction
		if a, err = DecodeAuction(b); err == nil {
			switch {
			case a.ID < FirstAuctionID:
				return deadletter.Errorf(deadletter.InvalidRecord, "nexmark: auction id %d is below the first auction id %d", a.ID, FirstAuctionID)
			case a.Seller < FirstPersonID:
				return deadletter.Errorf(deadletter.InvalidRecord, "nexmark: auction %d has seller %d, an unknown person (ids start at %d)", a.ID, a.Seller, FirstPersonID)
			case a.Expires < a.DateTime:
				return deadletter.Errorf(deadletter.InvalidRecord, "nexmark: auction %d expires at %d, before it opens at %d", a.ID, a.Expires, a.DateTime)
			}
		}
	case BidEvent:
		var bid Bid
		if bid, err = DecodeBid(b); err == nil {
			switch {
			case bid.Auction < FirstAuctionID:
				return deadletter.Errorf(deadletter.InvalidRecord, "nexmark: bid for unknown auction %d (ids start at %d)", bid.Auction, FirstAuctionID)
			case bid.Price < 0:
				return deadletter.Errorf(deadletter.InvalidRecord, "nexmark: bid for auction %d has negative price %d", bid.Auction, bid.Price)
			}
		}
	default:
		return deadletter.Errorf(deadletter.InvalidRecord, "nexmark: unknown event kind %d", int(kind))
	}
	if err == nil {
		return nil
	}
	code := deadletter.InvalidPayload
	if errors.Is(err, ErrTruncated) {
		code = deadletter.TruncatedPayload
	}
	return deadletter.Errorf(code, "nexmark: %s payload of %d bytes: %w", kind, len(b), err)
}

// Validate passes on the payloads of col (PCollection<[]byte> of kind) that
// Check accepts, with their timestamps, and turns the others into dead
// letters (PCollection<deadletter.Record>) with the reason and the payload.
// Every input element is in exactly one of the two outputs.
func Validate(s beam.Scope, kind EventKind, col beam.PCollection) (valid, dead beam.PCollection) {
	s = s.Scope("nexmark.Validate." + kind.String())
	return beam.ParDo2(s, &validateFn{Kind: int(kind)}, col)
}

type validateFn struct {
	Kind int
}

func (f *validateFn) ProcessElement(ctx context.Context, ts beam.EventTime, b []byte, valid func(beam.EventTime, []byte), dead func(deadletter.Record)) {
	if err := Check(EventKind(f.Kind), b); err != nil {
		deadletter.Emit(ctx, dead, deadletter.New(ValidateStage, err, deadletter.WithPayload(b), deadletter.At(ts.ToTime())))
		return
	}
	valid(ts, b)
}
