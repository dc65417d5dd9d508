package nexmark

import (
	"math"
	"math/rand/v2"
)

// Generator constants from Beam Java's Nexmark GeneratorConfig.
const (
	PersonProportion  = 1
	AuctionProportion = 3
	BidProportion     = 46
	TotalProportion   = PersonProportion + AuctionProportion + BidProportion

	FirstPersonID   = 1000
	FirstAuctionID  = 1000
	FirstCategoryID = 10
	NumCategories   = 5

	personIDLead  = 10
	auctionIDLead = 10

	hotAuctionRatio = 100 // Beam Java HOT_AUCTION_RATIO
	hotSellerRatio  = 100
	hotBidderRatio  = 100
)

var (
	usStates   = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = []string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
)

// Config fixes a generated event stream. The zero value of every field but
// NumEvents takes Beam Java's default.
type Config struct {
	NumEvents int64
	// Seed makes the stream reproducible: event i draws from a generator
	// seeded by (Seed, i), so events can be generated in any order.
	Seed uint64
	// EventsPerSecond is the event-time rate (Beam's firstEventRate, 10000).
	EventsPerSecond int64
	// BaseTime is the event time of event 0, ms since the Unix epoch.
	BaseTime int64
	// NumActivePeople (1000) and NumInFlightAuctions (100) bound the ids
	// new auctions and bids refer to.
	NumActivePeople     int64
	NumInFlightAuctions int64
	// HotAuctionRatio (2), HotSellersRatio (4), HotBiddersRatio (4): one in
	// N references is uniform, the rest go to a hot id.
	HotAuctionRatio, HotSellersRatio, HotBiddersRatio int
}

// DefaultBaseTime is the event time of event 0 unless set otherwise.
const DefaultBaseTime = 1_700_000_000_000

func (c Config) withDefaults() Config {
	if c.EventsPerSecond <= 0 {
		c.EventsPerSecond = 10000
	}
	if c.BaseTime == 0 {
		c.BaseTime = DefaultBaseTime
	}
	if c.NumActivePeople <= 0 {
		c.NumActivePeople = 1000
	}
	if c.NumInFlightAuctions <= 0 {
		c.NumInFlightAuctions = 100
	}
	if c.HotAuctionRatio <= 0 {
		c.HotAuctionRatio = 2
	}
	if c.HotSellersRatio <= 0 {
		c.HotSellersRatio = 4
	}
	if c.HotBiddersRatio <= 0 {
		c.HotBiddersRatio = 4
	}
	return c
}

// Person is a new person event.
type Person struct {
	ID                       int64
	Name, Email, City, State string
	DateTime                 int64
}

// Auction is a new auction event.
type Auction struct {
	ID, Seller, Category, InitialBid, Reserve int64
	DateTime, Expires                         int64
}

// Bid is a bid event.
type Bid struct {
	Auction, Bidder, Price int64
	DateTime               int64
}

// Event is one generated event: exactly one of the pointers is set.
type Event struct {
	Person  *Person
	Auction *Auction
	Bid     *Bid
}

// Generator produces the events of a Config. It reuses one random source
// across calls, so it is not safe for concurrent use; make one per goroutine.
type Generator struct {
	cfg Config
	pcg *rand.PCG
	r   *rand.Rand
}

// NewGenerator returns a generator for cfg.
func NewGenerator(cfg Config) *Generator {
	pcg := rand.NewPCG(0, 0)
	return &Generator{cfg: cfg.withDefaults(), pcg: pcg, r: rand.New(pcg)}
}

// Timestamp is the event time of event id in ms.
func (g *Generator) Timestamp(id int64) int64 {
	return g.cfg.BaseTime + id*1000/g.cfg.EventsPerSecond
}

func lastBase0PersonID(id int64) int64 {
	epoch, offset := id/TotalProportion, id%TotalProportion
	if offset >= PersonProportion {
		offset = PersonProportion - 1
	}
	return epoch*PersonProportion + offset
}

func lastBase0AuctionID(id int64) int64 {
	epoch, offset := id/TotalProportion, id%TotalProportion
	switch {
	case offset < PersonProportion:
		epoch--
		offset = AuctionProportion - 1
	case offset >= PersonProportion+AuctionProportion:
		offset = AuctionProportion - 1
	default:
		offset -= PersonProportion
	}
	return epoch*AuctionProportion + offset
}

func (g *Generator) nextBase0PersonID(id int64, r *rand.Rand) int64 {
	numPeople := lastBase0PersonID(id) + 1
	active := min(numPeople, g.cfg.NumActivePeople)
	return numPeople - active + r.Int64N(active+personIDLead)
}

func (g *Generator) nextBase0AuctionID(id int64, r *rand.Rand) int64 {
	maxA := lastBase0AuctionID(id)
	minA := max(maxA-g.cfg.NumInFlightAuctions, 0)
	return minA + r.Int64N(maxA-minA+1+auctionIDLead)
}

func nextPrice(r *rand.Rand) int64 {
	return int64(math.Round(math.Pow(10, r.Float64()*6) * 100))
}

func (g *Generator) auctionLength(id, ts int64, r *rand.Rand) int64 {
	eventsForAuctions := g.cfg.NumInFlightAuctions * TotalProportion / AuctionProportion
	horizon := g.Timestamp(id+eventsForAuctions) - ts
	return 1 + r.Int64N(max(horizon*2, 1))
}

// MaxAuctionLength bounds Auction.Expires - Auction.DateTime.
func (g *Generator) MaxAuctionLength() int64 {
	eventsForAuctions := g.cfg.NumInFlightAuctions * TotalProportion / AuctionProportion
	return 2*(g.Timestamp(eventsForAuctions)-g.Timestamp(0)) + 1
}

// Event returns event id (0 <= id < NumEvents).
func (g *Generator) Event(id int64) Event {
	// Reseeding per event keeps events independent of generation order.
	g.pcg.Seed(g.cfg.Seed, uint64(id))
	r := g.r
	ts := g.Timestamp(id)
	offset := id % TotalProportion
	switch {
	case offset < PersonProportion:
		name := firstNames[r.IntN(len(firstNames))] + " " + lastNames[r.IntN(len(lastNames))]
		return Event{Person: &Person{
			ID:       lastBase0PersonID(id) + FirstPersonID,
			Name:     name,
			Email:    name + "@example.com",
			City:     usCities[r.IntN(len(usCities))],
			State:    usStates[r.IntN(len(usStates))],
			DateTime: ts,
		}}
	case offset < PersonProportion+AuctionProportion:
		var seller int64
		if r.IntN(g.cfg.HotSellersRatio) > 0 {
			seller = (lastBase0PersonID(id) / hotSellerRatio) * hotSellerRatio
		} else {
			seller = g.nextBase0PersonID(id, r)
		}
		initial := nextPrice(r)
		a := &Auction{
			ID:         lastBase0AuctionID(id) + FirstAuctionID,
			Seller:     seller + FirstPersonID,
			Category:   FirstCategoryID + int64(r.IntN(NumCategories)),
			InitialBid: initial,
			DateTime:   ts,
		}
		a.Expires = ts + g.auctionLength(id, ts, r)
		a.Reserve = initial + nextPrice(r)
		return Event{Auction: a}
	default:
		var auction, bidder int64
		if r.IntN(g.cfg.HotAuctionRatio) > 0 {
			auction = (lastBase0AuctionID(id) / hotAuctionRatio) * hotAuctionRatio
		} else {
			auction = g.nextBase0AuctionID(id, r)
		}
		if r.IntN(g.cfg.HotBiddersRatio) > 0 {
			bidder = (lastBase0PersonID(id)/hotBidderRatio)*hotBidderRatio + 1
		} else {
			bidder = g.nextBase0PersonID(id, r)
		}
		return Event{Bid: &Bid{
			Auction:  auction + FirstAuctionID,
			Bidder:   bidder + FirstPersonID,
			Price:    nextPrice(r),
			DateTime: ts,
		}}
	}
}
